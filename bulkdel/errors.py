"""Run-level faults. A per-peer failure is an outcome, never one of these.

BulkdelError                 exit code 1 unless a subclass says otherwise
├── UsageError               2  bad option, missing confirmation, secret on the command line
│   ├── InputError           2  unusable inventory, state or plan file (file, line, fix)
│   └── ConfigError          2  config file or environment that cannot be used
├── AuditError               2  audit log locked by another run, unreadable or not ours
├── AuthError                4  credentials refused (401 after refresh, 403, IAM refusal)
└── ApiError                 1  live state could not be read after retries
"""

from __future__ import annotations


class BulkdelError(Exception):
    """Base of every error bulkdel raises on purpose."""

    exit_code = 1


class UsageError(BulkdelError):
    """The command line, a confirmation or an option value is not usable."""

    exit_code = 2


class InputError(UsageError):
    """An input file cannot be used; the message names the file, line and fix."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.fix = fix
        self.message = message
        where = ""
        if file is not None:
            where = file
            if line is not None:
                where += f":{line}"
            if column is not None:
                where += f" ({column})"
            where += ": "
        text = where + message
        if fix:
            text += f". Fix: {fix}"
        super().__init__(text)


class ConfigError(UsageError):
    """A configuration file, environment variable or credential source is not usable."""


class AuditError(BulkdelError):
    """The audit log cannot be opened, locked or read."""

    exit_code = 2


class AuthError(BulkdelError):
    """The API refused the credentials or the permission."""

    exit_code = 4


class ApiError(BulkdelError):
    """The API could not be read (live state) even after retries."""

    exit_code = 1
