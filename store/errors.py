"""The error hierarchy every layer raises for *bad input or bad environment*.

The CLI turns any ``AutointerpError`` into a one-line message and exit status 2; the API into a
4xx with that line (``autointerp/api/errors.py`` has the status table); the agent gets it as a tool
error it can react to. Anything else escaping is a bug.

    AutointerpError                 a problem the user (or the agent) can fix; the message says how
    ├── ConfigError                 a setting is invalid: unwritable cache home, bad device, bad data file
    ├── ModelLoadError              a model cannot be found, fetched or loaded
    ├── AddressError                a unit or site address is malformed or out of range
    ├── InputError                  a request's input is unusable (empty text, bad corpus file, bad intervention)
    │   └── FileAccessError         a file a request names may not be read: outside the data roots, missing,
    │                               not a regular file, too large, or a line too long (``tools.files``)
    ├── StoreError                  the database cannot be reached, migrated or written
    │   ├── ConstraintError         a write broke a unique or foreign-key constraint
    │   └── DatabaseURLError        the database URL is malformed (also a ConfigError)
    ├── CacheError                  an on-disk cache is missing, corrupt or cannot be written
    └── ToolError                   a tool call failed (``tools.registry``: it lives beside the registry,
                                    carries the tool's name and the argument at fault)

Everything but ``ToolError`` lives here, at the bottom of the house, so any layer can raise it.
"""

from __future__ import annotations


class AutointerpError(Exception):
    """Base class: a problem the user (or the agent) can fix; its message says what and how."""


class ConfigError(AutointerpError):
    """A setting is invalid: an unwritable cache home, a malformed database URL, a bad device."""


class ModelLoadError(AutointerpError):
    """A model could not be found, fetched, or loaded (unknown name, corrupt GGUF, bad folder)."""


class AddressError(AutointerpError):
    """A unit or site address is malformed or out of range for the model."""


class InputError(AutointerpError):
    """A request's input is unusable (empty text, a corpus file that is not UTF-8, bad intervention)."""


class FileAccessError(InputError):
    """A file a request names may not be read (``tools.files.FileAccess``).

    Under a confined policy (the API, its jobs, the workers) one message covers a path outside the data
    roots, a missing one, a symlink that leaves them and anything but a regular file, so the answer never
    tells whether a path exists; a file over the size cap or with an overlong line is named as such.
    """


class StoreError(AutointerpError):
    """The database cannot be reached, migrated, or written."""


class ConstraintError(StoreError):
    """A write broke a unique or foreign-key constraint (a duplicate key, a dangling reference)."""


class DatabaseURLError(StoreError, ConfigError):
    """The database URL is malformed or names a driver that is not installed.

    Both a `StoreError` (the store cannot be opened) and a `ConfigError` (the setting is wrong).
    """


class CacheError(AutointerpError):
    """An on-disk cache (exemplars, converted weights) is missing, corrupt, or cannot be written."""
