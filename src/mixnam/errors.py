"""Errors a user can fix. `run.py` prints their message as one paragraph, without a traceback."""


class MixnamError(Exception):
    """A problem with the user's input, data or environment, explained with the fix."""


class DataError(MixnamError):
    """A dataset is missing, unknown, truncated, corrupt or malformed."""


class ConfigError(MixnamError, ValueError):
    """Config values that are each well-typed but do not make a valid experiment together (K > C)."""


class InputError(MixnamError, ValueError):
    """Data given to an estimator's fit/predict that it cannot use (lengths, NaN/inf, columns), with the fix."""
