"""What an evaluator is (DESIGN §3): it judges unit tests and detection from an explanation alone,
never from the function."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Evaluator(Protocol):
    """Decides unit tests and detection from a description only."""

    name: str

    def choose(self, description: str, options: list[str]) -> int:
        """Index of the option the described function is most selective for."""
        ...

    def detect(self, description: str, texts: list[str]) -> list[bool]:
        """For each text, whether the description predicts that the function activates on it."""
        ...
