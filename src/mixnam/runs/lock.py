"""One run, one owner: a lock file beside the record, naming the host and pid that hold it.

Two processes on the same run (a double submission, a requeue overlapping the original) would
share the run directory, the metrics log and the record. The first to create `<record>.lock`
(O_EXCL, atomic on local and NFSv3+ file systems) owns the run; a second one reads who owns it and
stops with `RunInProgress`. The owner refreshes the lock's time every `HEARTBEAT_SECONDS`, so a lock
left by a process killed with SIGKILL is recognised as stale: its pid is gone (same host), or its
heartbeat is older than `STALE_AFTER_SECONDS` (any host), and the next process takes it over.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Self

from mixnam.errors import RunInProgress

HEARTBEAT_SECONDS = 30.0
STALE_AFTER_SECONDS = 600.0
log = logging.getLogger(__name__)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:  # os.kill(0 or -1, ...) would address process groups, not one process
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, under another user
        return True
    return True


def _owner(path: Path) -> dict | None:
    """The lock's content, or None if it vanished; an unreadable lock is an owner of unknown identity."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    try:
        owner = json.loads(text)
    except ValueError:
        owner = None
    return owner if isinstance(owner, dict) else {"host": "?", "pid": -1}


def stale_reason(path: Path, owner: dict) -> str | None:
    """Why a lock no longer protects a live run, or None when its owner may still be running."""
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return "it vanished"
    if owner.get("host") == socket.gethostname() and not _pid_alive(int(owner.get("pid", -1))):
        return f"process {owner.get('pid')} no longer exists on this host"
    if age > STALE_AFTER_SECONDS:
        return f"its heartbeat stopped {age:.0f} s ago"
    return None


class RunLock:
    """`with RunLock(record_path):` owns the run or raises `RunInProgress` naming the owner."""

    def __init__(self, record_path: Path):
        self.path = record_path.with_suffix(".lock")
        self._stop = threading.Event()
        self._heartbeat: threading.Thread | None = None

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, "w") as handle:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(),
                       "since": datetime.now(timezone.utc).isoformat(timespec="seconds")}, handle)
        return True

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while not self._create():
            owner = _owner(self.path)
            if owner is None:
                continue  # released between our attempt and the read: try again
            reason = stale_reason(self.path, owner)
            if reason is None:
                raise RunInProgress(
                    f"this run is in progress elsewhere: {self.path} is held by host {owner.get('host')} pid "
                    f"{owner.get('pid')} since {owner.get('since', '?')}. It was not started twice. Wait for that "
                    f"process to finish (its record will then be skipped), or, if it is dead on another host, "
                    f"delete the lock (it also counts as stale after {STALE_AFTER_SECONDS:.0f} s without a heartbeat).")
            if _owner(self.path) == owner:  # nobody took it over between the read and now
                log.warning("taking over the stale lock %s (%s)", self.path, reason)
                self.path.unlink(missing_ok=True)
        self._heartbeat = threading.Thread(target=self._beat, name="mixnam-run-lock", daemon=True)
        self._heartbeat.start()

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                os.utime(self.path)
            except OSError:
                return

    def release(self) -> None:
        self._stop.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if (_owner(self.path) or {}).get("pid") == os.getpid():
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()
