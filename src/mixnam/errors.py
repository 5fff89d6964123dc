"""Errors a user can fix. `run.py` prints their message as one paragraph, without a traceback."""
import numbers


class MixnamError(Exception):
    """A problem with the user's input, data or environment, explained with the fix."""


class DataError(MixnamError):
    """A dataset is missing, unknown, truncated, corrupt or malformed."""


class ConfigError(MixnamError, ValueError):
    """Config values that are each well-typed but do not make a valid experiment together (K > C)."""


class OutputError(MixnamError):
    """The runs directory cannot take a record (missing, a file, read-only, full), or a write failed."""


class RunInProgress(MixnamError):
    """Another live process owns this run (its lock names the host and pid); this one must not start."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT during a run. A BaseException, like KeyboardInterrupt, so no `except Exception`
    swallows it; the training layer adds the epoch reached and the checkpoint it wrote on the way out."""

    def __init__(self, signum: int):
        import signal

        self.signum = signum
        self.signal_name = signal.Signals(signum).name
        self.epoch: int | None = None  # 1-based: the epoch that was running
        self.max_epochs: int | None = None
        self.checkpoint: str | None = None
        super().__init__(self.signal_name)

    @property
    def exit_code(self) -> int:
        """The shell's convention for death by a signal: 128 + its number (SIGTERM 143, SIGINT 130)."""
        return 128 + self.signum

    def __str__(self) -> str:
        where = f" during epoch {self.epoch} of {self.max_epochs}" if self.epoch else " before training started"
        saved = f"; last checkpoint {self.checkpoint}" if self.checkpoint else ""
        return f"interrupted by {self.signal_name}{where}{saved}; rerun the same command with resume=true to continue"


class InputError(MixnamError, ValueError):
    """Data given to an estimator's fit/predict that it cannot use (lengths, NaN/inf, columns), with the fix."""


def check_count(name: str, value: object, minimum: int, meaning: str, *, optional: bool = False) -> None:
    """Refuse a count argument of the Python API (rows, steps, samples, a seed) that is not a whole number
    >= `minimum`, before any work: numpy or torch would fail later naming neither the argument nor the fix."""
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        none = " or None" if optional else ""
        raise ValueError(f"{name}={value!r}: give a whole number >= {minimum}{none} ({meaning})")
