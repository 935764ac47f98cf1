"""The context recipe: what a model reads besides the unit itself, recorded in its directory.

A unit is read as the first segment (with the model's prefix, E5's ``query: ``)
and its context as the second: the section path (the nearest ``path_depth``
headings, nearest last, joined by " > "), then " | " and the previous unit
when the recipe reads it. The context gets at most ``max_tokens`` tokens and is
what truncation cuts; the unit is cut only when it alone is too long. Training
writes the recipe into ``config.json`` (``clausetag_context``) and every
inference path reads it from there, so a model is always read as it was
trained. A model without the key reads no context (models trained before it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clausetag.inference.structure import Context, heading_field, record_places

CONFIG_KEY = "clausetag_context"
RECIPES = ("none", "heading", "heading+previous")
PATH_SEPARATOR = " > "
PREVIOUS_SEPARATOR = " | "
#: Bounds a model directory may set (it is untrusted input).
MAX_CONTEXT_TOKENS = 128
MAX_PATH_DEPTH = 8


@dataclass(frozen=True)
class ContextRecipe:
    """What context a model reads, and how much of it."""

    reads: str = "none"
    max_tokens: int = 24
    path_depth: int = 2

    def __post_init__(self) -> None:
        if self.reads not in RECIPES:
            raise ValueError(f"context must be one of {', '.join(RECIPES)}, not {self.reads!r}")
        for name, value, top in (
            ("max_tokens", self.max_tokens, MAX_CONTEXT_TOKENS),
            ("path_depth", self.path_depth, MAX_PATH_DEPTH),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ValueError(f"context {name} must be a whole number from 1 to {top}, not {value!r}")

    @property
    def active(self) -> bool:
        return self.reads != "none"

    def render(self, context: Context | None) -> str:
        """The second segment for a unit in ``context`` ("" when the recipe reads nothing)."""
        if not self.active or context is None:
            return ""
        text = PATH_SEPARATOR.join(context.section[-self.path_depth :])
        if self.reads == "heading+previous" and context.previous:
            lead = context.section[-1] if context.section else None
            if context.previous != lead:  # the first item after a lead-in: no need to read it twice
                text = f"{text}{PREVIOUS_SEPARATOR}{context.previous}" if text else context.previous
        return text

    def to_config(self) -> dict[str, Any]:
        return {"reads": self.reads, "max_tokens": self.max_tokens, "path_depth": self.path_depth}

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ContextRecipe:
        """The recipe a ``config.json`` records (none when it records none); ValueError if malformed."""
        spec = config.get(CONFIG_KEY)
        if spec is None:
            return cls()
        if not isinstance(spec, dict) or set(spec) - {"reads", "max_tokens", "path_depth"}:
            raise ValueError(f"{CONFIG_KEY} must be an object with reads, max_tokens and path_depth")
        return cls(**spec)


def as_context(value: object) -> Context | None:
    """A caller's context for one unit: a ``Context``, a heading string, a mapping, or None.

    A mapping may name ``section`` (or ``heading``: a string or a list, nearest last) and
    ``previous`` (the unit before).
    """
    if value is None or isinstance(value, Context):
        return value
    if isinstance(value, str):
        return Context(section=(value,)) if value else Context()
    if isinstance(value, Mapping):
        unknown = set(value) - {"section", "heading", "previous"}
        if unknown:
            raise ValueError(f"unknown context field(s) {sorted(unknown)}: use section and previous")
        section = heading_field(value.get("section", value.get("heading")))
        previous = value.get("previous") or ""
        if not isinstance(previous, str):
            raise ValueError("context 'previous' must be a string")
        return Context(section or (), previous)
    raise ValueError(f"a context is a Context, a heading string or a mapping, not {type(value).__name__}")


def record_contexts(records: Sequence[Mapping[str, Any]], recipe: ContextRecipe) -> list[str]:
    """Each record's rendered context by ``recipe``, its place derived within its document.

    The one way training and inference turn a document's units into contexts
    (``structure.record_places``: ``text``, optional ``kind`` and ``heading``, by ``doc``/``lang``).
    """
    if not recipe.active:
        return [""] * len(records)
    return [recipe.render(place.context) for place in record_places(records)]
