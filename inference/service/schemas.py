"""The request bodies of the service (pydantic models: its OpenAPI schema) and their errors.

Bodies are strict (a number is no string, ``"true"`` no boolean) and closed (an
unknown field is refused by name): a typo such as ``raw_score`` fails loudly
instead of being ignored. ``validation_error`` turns pydantic's error list into
the one message a response carries.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from clausetag.inference.service.limits import ServiceError, invalid
from clausetag.io import json_type

Lang = Literal["en", "lv"]
PolicyFormat = Literal["txt", "md", "html"]
#: A unit's context for a model that reads one: a heading, ``{"section": [...], "previous": "..."}``, or null.
ContextValue = str | dict[str, str | list[str]] | None

#: What each field takes, in the words of an error message.
EXPECTED = {
    "inputs": "a string or a list of strings",
    "contexts": 'a list with one context per input (a heading string, {"section", "previous"} or null)',
    "lang": '"en", "lv" or null',
    "raw_scores": "true or false",
    "text": "the policy as a string",
    "format": '"txt", "md" or "html"',
    "doc": "a name of 1 to 200 characters",
    "return_text": "true or false",
    "report": "true or false",
    "top": "a whole number from 1 to 20",
}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TagRequest(_Body):
    """``POST /v1/tag``: one text or a list of them (text-embeddings-inference's ``/predict`` shape)."""

    inputs: str | list[str] = Field(description="a unit (sentence) or a list of units to tag")
    lang: Lang | None = Field(
        None, description="the texts' language; checked, and echoed in no score (units are tagged as given)"
    )
    raw_scores: bool = Field(
        False, description="every label's score (each marked selected or not), not only the chosen labels"
    )
    contexts: list[ContextValue] | None = Field(
        None,
        description="one context per input, for a model trained to read where a unit stands "
        "(GET /v1/info: context); ignored by a model that reads none",
    )


class PolicyRequest(_Body):
    """``POST /v1/report``: a whole policy and how to read it."""

    text: str = Field(description="the policy: plain text, Markdown or HTML (see format)")
    format: PolicyFormat = Field("txt", description="how to read text: txt, md (Markdown) or html")
    lang: Lang | None = Field(None, description="the policy's language (segmentation, report wording)")
    doc: str = Field("policy", min_length=1, max_length=200, description="the document's name in the answer")
    top: int = Field(3, ge=1, le=20, description="report: evidence units per Art. 13 item")


class DocumentRequest(PolicyRequest):
    """``POST /v1/documents``: a whole policy; its units come back with offsets and labels."""

    return_text: bool = Field(False, description="also return the plain text the offsets index")
    report: bool = Field(False, description="also return the Art. 13 coverage report of the same units")


def _where(loc: tuple[int | str, ...]) -> str:
    """``('inputs', 'list[str]', 3)`` → ``inputs[3]``: field names and list indices, not union branches."""
    field = str(loc[0]) if loc else "body"
    indices = "".join(f"[{part}]" for part in loc[1:] if isinstance(part, int))
    return field + indices


def validation_error(exc: ValidationError, fields: Sequence[str] = ()) -> ServiceError:
    """pydantic's errors as one message: the most telling problem, where it is and what was expected.

    An unknown field comes first (a typo explains the "missing" that follows it); of a union's
    branches, the one that got furthest (``inputs[3]`` is a number, not "inputs is no string").
    """
    errors = exc.errors(include_url=False)
    first = min(errors, key=lambda e: (e["type"] != "extra_forbidden", -len(e["loc"])))
    kind = first["type"]
    loc = tuple(first["loc"])
    got = json_type(first.get("input"))
    if kind == "json_invalid":
        reason = first.get("ctx", {}).get("error", "not JSON")
        return ServiceError(400, f"the body is not valid JSON ({reason})", "MalformedJSON")
    if not loc or kind == "model_type":
        return invalid(f"the body must be a JSON object, not {got}")
    field = str(loc[0])
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(field, fields, n=1)
        return invalid(f"unknown field {field!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if kind == "missing":
        return invalid(f"{field}: required ({EXPECTED.get(field, 'a value')})")
    if any(isinstance(part, int) for part in loc[1:]):  # an item of a list
        return invalid(f"{_where(loc)}: {first['msg'][:1].lower()}{first['msg'][1:]}, got {got}")
    if field in EXPECTED:
        return invalid(f"{_where(loc)}: expected {EXPECTED[field]}, got {got}")
    return invalid(f"{_where(loc)}: {first['msg']}")


def parse_json(model: type[_Body], body: bytes) -> Any:
    """A request body as ``model``; any problem one ``ServiceError``."""
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        raise validation_error(exc, list(model.model_fields)) from None


def parse_fields(model: type[_Body], fields: dict[str, Any]) -> Any:
    """Query or form fields (strings) as ``model``, read leniently: ``top=3``, ``report=true``."""
    try:
        return model.model_validate(fields, strict=False)
    except ValidationError as exc:
        raise validation_error(exc, list(model.model_fields)) from None
