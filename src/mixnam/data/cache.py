"""Content-addressed cache of what `load` computes: the parsed raw files and each preprocessed split.

A sweep runs many models on the same splits (a smoke Table 1: 14 models on each split of each
dataset), and every run used to parse the raw file again (Credit's 144 MB CSV: seconds) and refit the
preprocessing. Entries live in an ignored directory (`paths.cache_dir`, default `data/.cache`) under
a key that hashes everything their content follows from: the raw files' sha256, the split, the seed,
the row cap, the preprocessing parameters and the source code of this package, so a changed file,
seed, parameter or loader is a miss, never a stale hit. An entry is written to a temporary file and
renamed into place, so a reader never sees half of one, and it starts with the digest of its bytes:
an entry torn by a crash or a full disk is recomputed and replaced, never used. Deleting the
directory is always safe.
"""
from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import pickle
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
PACKAGE = Path(__file__).resolve().parent
MAGIC = b"mixnam-cache 1\n"
DIGEST_BYTES = 32
log = logging.getLogger(__name__)


@functools.cache
def code_version() -> str:
    """Digest of this package's source: a change to a reader, a split protocol or the preprocessing
    invalidates every entry without anyone having to remember a version number."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(path.relative_to(PACKAGE).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def cache_key(**parts: Any) -> str:
    """A key for an entry computed from `parts` (JSON-able) by this version of the code."""
    text = json.dumps({**parts, "code": code_version()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _digest(payload: bytes) -> bytes:
    return hashlib.blake2b(payload, digest_size=DIGEST_BYTES).digest()


def _read(path: Path) -> tuple[bool, Any]:
    """(True, value) for an intact entry; (False, None) for one that is absent, torn or unreadable."""
    try:
        blob = path.read_bytes()
    except OSError:
        return False, None
    header = len(MAGIC) + DIGEST_BYTES
    payload = blob[header:]
    if blob[: len(MAGIC)] != MAGIC or blob[len(MAGIC):header] != _digest(payload):
        log.warning("ignoring the damaged cache entry %s; recomputing it", path)
        return False, None
    try:
        return True, pickle.loads(payload)
    except Exception as error:  # noqa: BLE001 - e.g. written by other library versions: recompute
        log.warning("ignoring the unreadable cache entry %s (%s: %s); recomputing it", path, type(error).__name__, error)
        return False, None


def _write(path: Path, value: Any) -> None:
    """Temporary file + rename. No fsync: whatever a crash leaves fails the digest and is recomputed.
    A cache that cannot be written (full disk, read-only directory) only costs the next run time."""
    payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + _digest(payload) + payload)
        os.replace(tmp, path)
    except OSError as error:
        log.warning("could not write the cache entry %s (%s); continuing without it", path, error)
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)


def cached(cache_dir: str | Path | None, name: str, key: str, compute: Callable[[], T]) -> T:
    """`compute()`, or the entry `<cache_dir>/<name>-<key>.pkl` it returned before; no cache_dir: no cache."""
    if cache_dir is None:
        return compute()
    path = Path(cache_dir) / f"{name}-{key}.pkl"
    found, value = _read(path)
    if found:
        return value
    value = compute()
    _write(path, value)
    return value
