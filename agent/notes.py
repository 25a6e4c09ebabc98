"""Machine-readable notes: what the investigation graph tells the model, marked so a program can tell.

The graph speaks to the model in English (the budget note, the nudge after a silent reply), but a
brain that is a program (the builtin scientist) must not depend on that wording, and must not take
a person's chat question for one of the graph's notes. So each note is a ``HumanMessage`` that also
carries ``additional_kwargs[NOTE_KEY]``, one of the `Note` values; a person's message carries none.

The marker survives LangGraph checkpointing (``additional_kwargs`` is part of the serialised
message) and never reaches an LLM provider: the SDK backends (``agent.backends``) send a human
message's content only.
"""

from __future__ import annotations

from enum import StrEnum

from langchain_core.messages import BaseMessage, HumanMessage

NOTE_KEY = "autointerp_note"
"""The ``additional_kwargs`` key of a graph note."""


class Note(StrEnum):
    """The graph's notes to the model."""

    budget_spent = "budget_spent"
    """A budget ran out: give the final explanation now."""
    nudge = "nudge"
    """The model answered without a tool call: continue the investigation."""


def note_message(text: str, note: Note) -> HumanMessage:
    """A human message with ``text`` for the model to read and ``note`` for a program to read."""
    return HumanMessage(text, additional_kwargs={NOTE_KEY: note.value})


def note_of(message: BaseMessage) -> Note | None:
    """The note a message carries (None: not one of the graph's notes, e.g. a person's message)."""
    if not isinstance(message, HumanMessage):
        return None
    value = message.additional_kwargs.get(NOTE_KEY)
    try:
        return Note(value) if isinstance(value, str) else None
    except ValueError:
        return None
