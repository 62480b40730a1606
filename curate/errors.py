"""Errors that map to winnow's documented exit codes (DESIGN.md section 3)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_GATE_FAILED = 1
EXIT_INPUT = 2
EXIT_RUNTIME = 3


class WinnowError(Exception):
    """Base class: carries the exit code the CLI returns for it."""

    exit_code = EXIT_RUNTIME

    def __init__(self, message: str, path: object | None = None):
        self.path = path
        super().__init__(f"{path}: {message}" if path is not None else message)


class InputError(WinnowError):
    """Missing, unreadable or malformed input data (exit 2)."""

    exit_code = EXIT_INPUT


class ConfigError(WinnowError):
    """Invalid option, config key or value (exit 2)."""

    exit_code = EXIT_INPUT


class OutputError(WinnowError):
    """An output folder we refuse to write (exit 2): never clobber what is not ours."""

    exit_code = EXIT_INPUT


class RunError(WinnowError):
    """The run started but could not finish (exit 3)."""

    exit_code = EXIT_RUNTIME
