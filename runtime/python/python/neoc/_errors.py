"""The exceptions neoc raises. ``str(e)`` is always the runtime's own message.

They are Python classes (not native ones) so that each can also derive from the built-in
exception a caller already expects: ``InputError`` is a ``ValueError``,
``ModelNotFoundError`` a ``FileNotFoundError``.
"""

import errno as _errno
import os as _os


class Error(RuntimeError):
    """The runtime refused a model or a run: a corrupt or truncated file, one compiled for
    another architecture or for CPU features this machine lacks, an allocation failure."""


class InputError(Error, ValueError):
    """The inputs given to ``Model.run`` do not match the model's signature: an unknown,
    missing or repeated name, a wrong count, dtype or shape."""


class ModelNotFoundError(Error, FileNotFoundError):
    """``neoc.load`` was given a path that does not exist (``filename`` is that path)."""

    def __init__(self, message: str, filename: str = "") -> None:
        super().__init__(message)
        self.errno = _errno.ENOENT
        self.strerror = _os.strerror(_errno.ENOENT)
        self.filename = filename

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# Shown as neoc.Error etc. in tracebacks and reprs, where users import them from.
for _cls in (Error, InputError, ModelNotFoundError):
    _cls.__module__ = "neoc"
del _cls
