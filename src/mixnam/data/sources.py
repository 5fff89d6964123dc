"""Raw files: cache -> mirror -> canonical URL, with progress, atomic writes and content checks.

A raw file is identified by the name it has in the cache (`<data_dir>/<dataset>/<name>`). It can be
fetched from several candidate sources (the mirror, laid out `<dataset>/<file>` like ../shared/data,
then the public URL). A candidate may be packed (xz, tar member, zip member); it is unpacked into a
temporary file beside the cache file, checked (sha256 when the canonical bytes are known), and only
then renamed into place, so a killed download never leaves a half file that looks complete.
"""
from __future__ import annotations

import hashlib
import lzma
import os
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from mixnam.errors import DataError

CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """One place a raw file can come from: a file name under the mirror, or a full URL."""

    location: str  # "<file>" relative to <mirror>/<dataset>/, or "https://..."
    unpack: str = "none"  # none | xz | gz | tar:<member> | zip:<member>

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))


@dataclass(frozen=True)
class RawFile:
    name: str  # file name in the cache
    sha256: str | None  # of the unpacked bytes; None when no canonical hash is known
    sources: tuple[Source, ...] = field(default_factory=tuple)


_DIGESTS: dict[tuple, str] = {}  # (file identity, size, mtime) -> sha256, for this process


def sha256_of(path: Path) -> str:
    """The file's sha256, computed once per process for an unchanged file (a sweep checks Credit's
    144 MB on every run); a file replaced, truncated or rewritten since has a new identity or size or
    mtime and is hashed again."""
    stat = os.stat(path)
    identity = (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
    if identity not in _DIGESTS:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        _DIGESTS[identity] = digest.hexdigest()
    return _DIGESTS[identity]


def _copy_with_progress(src, dst, total: int | None, desc: str) -> None:
    with tqdm(total=total, unit="B", unit_scale=True, desc=desc, leave=False) as bar:
        for chunk in iter(lambda: src.read(CHUNK), b""):
            dst.write(chunk)
            bar.update(len(chunk))


def _open_candidate(source: Source, dataset: str, mirror: str | None):
    """Return (readable binary stream, size or None, label) for a candidate, or None if absent."""
    if source.is_url:
        response = urllib.request.urlopen(source.location, timeout=60)  # noqa: S310 (public data URL)
        size = response.headers.get("Content-Length")
        return response, int(size) if size else None, source.location
    if mirror is None:
        return None
    if mirror.startswith(("http://", "https://", "file://")):
        url = f"{mirror.rstrip('/')}/{dataset}/{source.location}"
        try:
            response = urllib.request.urlopen(url, timeout=60)  # noqa: S310
        except OSError:
            return None
        size = response.headers.get("Content-Length")
        return response, int(size) if size else None, url
    path = Path(mirror) / dataset / source.location
    if not path.is_file():
        return None
    return open(path, "rb"), path.stat().st_size, str(path)


def _unpack(packed: Path, unpack: str, out: Path) -> None:
    """Write the unpacked bytes of `packed` to `out`."""
    kind, _, member = unpack.partition(":")
    with open(out, "wb") as dst:
        if kind == "none":
            with open(packed, "rb") as src:
                shutil.copyfileobj(src, dst, CHUNK)
        elif kind == "xz":
            with lzma.open(packed, "rb") as src:
                shutil.copyfileobj(src, dst, CHUNK)
        elif kind == "gz":
            import gzip

            with gzip.open(packed, "rb") as src:
                shutil.copyfileobj(src, dst, CHUNK)
        elif kind == "tar":
            with tarfile.open(packed) as archive:
                src = archive.extractfile(member)
                if src is None:
                    raise DataError(f"{packed} has no file {member!r}")
                shutil.copyfileobj(src, dst, CHUNK)
        elif kind == "zip":
            with zipfile.ZipFile(packed) as archive, archive.open(member) as src:
                shutil.copyfileobj(src, dst, CHUNK)
        else:
            raise ValueError(f"unknown unpack kind {unpack!r}")


def _verify(path: Path, raw: RawFile, origin: str) -> None:
    if raw.sha256 is None:
        return
    actual = sha256_of(path)
    if actual != raw.sha256:
        raise DataError(
            f"{raw.name} from {origin} is truncated or corrupt: its sha256 is {actual}, expected "
            f"{raw.sha256}. Delete it and fetch it again (or replace the mirror's copy)."
        )


HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body")
SNIFF_BYTES = 1 << 16


def _leading_bytes(path: Path) -> bytes:
    """The first bytes of a file's content (of what it decompresses to, if gzip)."""
    import gzip

    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if head[:2] == b"\x1f\x8b":
        try:
            with gzip.open(path, "rb") as handle:
                return handle.read(SNIFF_BYTES)
        except (OSError, EOFError) as error:
            raise DataError(f"{path} is a damaged gzip file ({error})") from None
    return head


def check_text_file(path: Path, expected: str) -> None:
    """Reject what a browser or a wrong download leaves where a data table should be: an HTML page
    (a login or error page saved under the data's name) or binary bytes. `expected` says what the
    file should hold; the caller adds how to obtain it."""
    head = _leading_bytes(path)
    lowered = head.lstrip().lower()
    if any(lowered.startswith(marker) for marker in HTML_MARKERS) or b"<html" in lowered[:2048]:
        raise DataError(f"{path} is an HTML page (a login or error page saved instead of the data), not {expected}")
    controls = sum(byte < 32 and byte not in b"\t\n\r" for byte in head)
    if b"\x00" in head or controls > len(head) // 100:
        raise DataError(f"{path} holds binary bytes, not {expected}")
    if not head.strip():
        raise DataError(f"{path} is empty, not {expected}")


def fetch(raw: RawFile, dataset: str, data_dir: str | Path, mirror: str | None) -> Path:
    """Path of the verified cache copy of `raw`, fetching it (mirror first, then URL) if needed."""
    target = Path(data_dir) / dataset / raw.name
    if target.is_file():
        try:
            _verify(target, raw, f"the cache ({target})")
            return target
        except DataError as error:
            tqdm.write(f"[mixnam] {error} Refetching.")
            target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    problems = []
    for source in raw.sources:
        try:
            opened = _open_candidate(source, dataset, mirror)
        except OSError as error:  # no network, 404, ...
            problems.append(f"{source.location}: {error}")
            continue
        if opened is None:
            continue
        stream, size, origin = opened
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
            packed, unpacked = Path(tmp) / "packed", Path(tmp) / "unpacked"
            try:
                with stream, open(packed, "wb") as dst:
                    _copy_with_progress(stream, dst, size, f"{dataset}/{raw.name}")
                _unpack(packed, source.unpack, unpacked)
                _verify(unpacked, raw, origin)
            except (OSError, EOFError, lzma.LZMAError, tarfile.TarError, zipfile.BadZipFile) as error:
                problems.append(f"{origin}: {error}")
                continue
            except DataError as error:
                problems.append(str(error))
                continue
            os.replace(unpacked, target)
        return target
    tried = "; ".join(problems) if problems else "no source had it"
    raise DataError(
        f"could not obtain {dataset}/{raw.name} ({tried}). Set MIXNAM_DATA_MIRROR (or data.mirror=) to a "
        f"directory laid out <dataset>/<file>, or place the file at {target}."
    )
