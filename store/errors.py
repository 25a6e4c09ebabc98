"""The error hierarchy every layer raises for *bad input or bad environment*.

The CLI turns any `AutointerpError` into a one-line message and a non-zero exit; the agent turns it
into a tool error it can react to. Anything else escaping is a bug.
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


class StoreError(AutointerpError):
    """The database cannot be reached, migrated, or written."""


class CacheError(AutointerpError):
    """An on-disk cache (exemplars, converted weights) is missing, corrupt, or cannot be written."""


class ToolError(AutointerpError):
    """A tool call failed; ``message`` tells the agent what went wrong and how to call it instead.

    ``tool`` names the tool; ``field`` names the argument at fault when there is one.
    """

    def __init__(self, message: str, *, tool: str | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.tool = tool
        self.field = field
