"""User-facing errors: one clear line naming what is wrong and how to fix it."""

from __future__ import annotations


class VerticalkitError(Exception):
    """An error caused by the user's input (config, data, files).

    The CLI prints ``error: <message>`` on one line and exits with code 2.
    The message names the file, column or field and says how to fix it.
    """

    exit_code = 2


class ConfigError(VerticalkitError):
    """Unknown key, wrong type or invalid value in a config or ``--set``."""


class DataError(VerticalkitError):
    """A data file is missing, unreadable, or does not match its schema."""


class ModelLoadError(VerticalkitError):
    """A saved model or checkpoint cannot be loaded (wrong version, wrong model)."""


class EvaluationError(VerticalkitError):
    """Training finished and the model is saved, but evaluating it failed.

    Exit code 2 when the cause is the user's input (a VerticalkitError), else 1.
    """

    def __init__(self, message: str, exit_code: int = 1):
        super().__init__(message)
        self.exit_code = exit_code
