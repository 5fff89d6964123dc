"""The simulation studies generate what the paper's equations say (Eq. 13, 14, 17, 20)."""
from __future__ import annotations

import numpy as np
import pytest

from mixnam.data import load
from mixnam.data.synthetic import wave
from mixnam.errors import DataError


def residual(name: str, **options) -> tuple[np.ndarray, object]:
    data = load(name, options=options)
    x = data.X
    expected = {
        "synthetic_unimodal": lambda: wave(x.x1) + x.x2,
        "synthetic_multimodal": lambda: x.x2 * wave(x.x1) + x.x2,
        "synthetic_sparse": lambda: x.x2 * wave(x.x1) + x.x2,
        "synthetic_variability": lambda: options.get("scale", 64) / options.get("n_switches", 1)
        * x.drop(columns="x1").sum(axis=1) * wave(x.x1),
    }[name]()
    return data.y - np.asarray(expected), data


@pytest.mark.parametrize("name", ["synthetic_unimodal", "synthetic_multimodal", "synthetic_sparse",
                                  "synthetic_variability"])
def test_target_is_the_equation_plus_noise_of_sd_one_tenth(name):
    noise, data = residual(name)
    assert abs(noise.std() - 0.1) < 0.005 and abs(noise.mean()) < 0.01
    assert data.X.x1.between(0, 1).all() and set(np.unique(data.X.drop(columns="x1"))) == {-1.0, 1.0}
    assert data.problem.task == "regression" and data.metadata["n_train"] + data.metadata["n_val"] + \
        data.metadata["n_test"] == len(data.X)


def test_default_sizes_are_the_papers():
    assert len(load("synthetic_unimodal").X) == len(load("synthetic_multimodal").X) == 10_000
    assert (load("synthetic_multimodal").X.x2 == 1).mean() == 0.5


@pytest.mark.parametrize("share", [0.25, 0.05, 0.01])
def test_sparse_share_of_x2_equal_one_is_exact(share):
    noise, data = residual("synthetic_sparse", share=share)
    assert (data.X.x2 == 1).mean() == share and abs(noise.std() - 0.1) < 0.005


@pytest.mark.parametrize("n_switches", [1, 2, 4, 8, 16])
def test_variability_has_nc_switches_and_2000_rows_per_switch(n_switches):
    noise, data = residual("synthetic_variability", n_switches=n_switches)
    assert data.X.shape == (2000 * n_switches, n_switches + 1)
    assert abs(noise.std() - 0.1) < 0.01


def test_seed_changes_the_sample_and_unknown_options_are_named():
    assert not np.array_equal(load("synthetic_multimodal", seed=0).y, load("synthetic_multimodal", seed=1).y)
    with pytest.raises(DataError, match="no option"):
        load("synthetic_sparse", options={"sahre": 0.05})
    with pytest.raises(DataError, match="takes no options"):
        from mixnam.data.datasets import get_spec, read

        read(get_spec("housing"), "data", None, options={"share": 0.1})
