"""SIGTERM and SIGINT as failures the scheduler can see.

`kill`, Ctrl-C and Slurm's time limit send these. Inside `signals_interrupt_the_run()` either one
raises `mixnam.errors.Interrupted` where the run is, so the training layer can write `last.ckpt` on the
way out, the run's record says `interrupted` with the signal and the epoch, and `run.py` exits with
128 + the signal's number (143, 130) instead of 0. `signals_held()` defers them for the instant a
record is being written, so a signal never lands between the two halves of a finished result.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager

from mixnam.errors import Interrupted

SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _raise_interrupted(signum, _frame) -> None:
    raise Interrupted(signum)


@contextmanager
def signals_interrupt_the_run():
    """Turn SIGTERM/SIGINT into `Interrupted` for the duration; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {signum: signal.signal(signum, _raise_interrupted) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def signals_held():
    """Block SIGTERM/SIGINT for the duration; one that arrived meanwhile is delivered right after."""
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
