"""The cache of parsed raw files and preprocessed splits: a sweep's later runs read back exactly what
the first one computed, and never a stale or torn entry."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mixnam.data
from mixnam.data import DATASETS, load
from tests.test_data import _write_year


def year(data_dir, cache_dir, seed=0):
    """A small file with Year's raw schema (no network, no mirror), loaded like a run loads it."""
    return load("year", seed=seed, data_dir=data_dir, verify_rows=False, cache_dir=cache_dir)


def assert_same(a, b):
    assert a.X.equals(b.X) and np.array_equal(a.y, b.y) and a.problem == b.problem
    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a.indices, part), getattr(b.indices, part))
        np.testing.assert_array_equal(getattr(a, part).X, getattr(b, part).X)
        np.testing.assert_array_equal(getattr(a, part).y, getattr(b, part).y)


@pytest.fixture
def raw(tmp_path):
    _write_year(tmp_path / "year", rows=300)
    return tmp_path / "year" / "YearPredictionMSD.txt"


def test_a_hit_reads_back_what_the_first_load_computed_without_recomputing(tmp_path, raw, monkeypatch):
    cache = tmp_path / "cache"
    first = year(tmp_path, cache)
    entries = sorted(cache.iterdir())
    assert len(entries) == 2, "one parse of the raw file, one preprocessed split"

    def never(*args, **kwargs):
        raise AssertionError("a cache hit recomputed")

    monkeypatch.setitem(DATASETS, "year", dataclasses.replace(DATASETS["year"], reader=never))
    monkeypatch.setattr(mixnam.data, "_split_and_preprocess", never)
    again = year(tmp_path, cache)
    assert_same(again, first)
    assert sorted(cache.iterdir()) == entries
    monkeypatch.undo()
    assert_same(again, year(tmp_path, None))  # the same as no cache at all
    assert again.preprocessor.inverse_target(again.test.y) == pytest.approx(again.y[again.indices.test], abs=1e-3)


def test_another_seed_or_a_changed_raw_file_is_a_miss(tmp_path, raw):
    cache = tmp_path / "cache"
    seed0 = year(tmp_path, cache)
    seed1 = year(tmp_path, cache, seed=1)
    assert not np.array_equal(seed0.indices.val, seed1.indices.val), "the seed draws the validation rows"
    assert len(list(cache.iterdir())) == 3, "the raw file's parse is shared; the split is not"

    lines = raw.read_text().splitlines()
    raw.write_text("\n".join(["2011" + lines[0][lines[0].index(","):], *lines[1:]]) + "\n")
    changed = year(tmp_path, cache)
    assert changed.y[0] == 2011 != seed0.y[0] and changed.X.equals(seed0.X)
    assert len(list(cache.iterdir())) == 5
    assert_same(changed, year(tmp_path, None))


@pytest.mark.parametrize("damage", ["torn", "flipped"])
def test_a_damaged_entry_is_recomputed_and_replaced_never_used(tmp_path, raw, damage):
    cache = tmp_path / "cache"
    good = year(tmp_path, cache)
    for entry in cache.iterdir():
        blob = bytearray(entry.read_bytes())
        if damage == "torn":  # what a crash or a full disk might leave
            blob = blob[: len(blob) // 2]
        else:  # same length, one byte changed
            blob[-10] ^= 0xFF
        entry.write_bytes(bytes(blob))
    assert_same(year(tmp_path, cache), good)
    intact = {entry.name: entry.read_bytes() for entry in cache.iterdir()}
    assert_same(year(tmp_path, cache), good)
    assert {entry.name: entry.read_bytes() for entry in cache.iterdir()} == intact
