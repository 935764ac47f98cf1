"""A whole policy in a request: read it, tag it in its place, report on it.

The same steps as ``clausetag predict`` and ``clausetag report`` on a file, from
the same functions: markup is stripped by ``readers.plain_text``, the policy segmented and tagged by
``ClauseClassifier.tag_document`` and the Art. 13 report built by
``report.coverage``. Runs on the engine's worker thread (markup stripping and
segmentation are CPU work too), never on the event loop.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from clausetag.errors import ClausetagError
from clausetag.inference.classifier import ClauseClassifier, TaggedUnit
from clausetag.inference.readers import HTML_SUFFIXES, MARKDOWN_SUFFIXES, TEXT_SUFFIXES, plain_text
from clausetag.inference.report import CoverageReport, coverage, guess_language
from clausetag.inference.segment import segment
from clausetag.inference.service.limits import invalid, too_many_units
from clausetag.io import check_strings, is_blank

#: Media types of a raw policy body (and of an upload's part) and the reader each needs.
MEDIA_FORMATS = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
}


def upload_format(filename: str | None, media_type: str | None) -> str:
    """How to read an uploaded file: by its suffix, else by its media type, else as plain text."""
    suffix = PurePosixPath(filename or "").suffix.lower()
    if suffix == ".jsonl":
        raise invalid(f"{filename}: a JSONL file holds units: send their texts to /v1/tag as inputs")
    for fmt, suffixes in (("txt", TEXT_SUFFIXES), ("md", MARKDOWN_SUFFIXES), ("html", HTML_SUFFIXES)):
        if suffix in suffixes:
            return fmt
    if media_type in MEDIA_FORMATS:
        return MEDIA_FORMATS[media_type]
    if suffix:
        raise invalid(f"{filename}: unsupported file type {suffix!r}; upload a .txt, .md or .html policy")
    return "txt"


def upload_name(filename: str | None) -> str:
    """An uploaded file's document name: its stem (never a path)."""
    stem = PurePosixPath((filename or "").replace("\\", "/")).stem
    return stem[:200] or "policy"


@dataclass(frozen=True)
class Policy:
    """A policy as a request gave it: its markup, how to read it, and its name."""

    raw: str
    format: str
    doc: str
    lang: str | None = None


@dataclass(frozen=True)
class TaggedPolicy:
    """A policy's plain text (the offsets index it), its language and its tagged units."""

    doc: str
    text: str
    lang: str
    units: list[TaggedUnit]


def tag_policy(clf: ClauseClassifier, policy: Policy, max_units: int, batch_size: int) -> TaggedPolicy:
    """Read ``policy`` (markup stripped), refuse more than ``max_units`` units, tag each in its place."""
    check_strings(policy.raw, "text")
    if is_blank(policy.raw):
        raise ClausetagError("the policy is empty (only blanks and invisible characters)")
    text = plain_text(policy.raw, policy.format, policy.doc)
    count = len(segment(text, lang=policy.lang))
    if count > max_units:
        raise too_many_units(count, max_units, "the policy has")
    units = clf.tag_document(text, lang=policy.lang, batch_size=batch_size)
    return TaggedPolicy(policy.doc, text, policy.lang or guess_language(text), units)


def unit_record(unit: TaggedUnit) -> dict[str, Any]:
    """A unit as ``clausetag predict`` writes a policy's unit: place first, then labels and scores."""
    rec = dataclasses.asdict(unit)
    return {k: rec[k] for k in ("index", "start", "end", "kind", "section", "text", "labels", "scores")}


def policy_report(
    tagged: TaggedPolicy, clf: ClauseClassifier, model: str, top: int, lang: str | None = None
) -> CoverageReport:
    """The Art. 13 coverage of the tagged units, worded in ``lang`` (default: the policy's)."""
    return coverage(tagged.units, clf.labels, tagged.doc, tagged.doc, model, lang or tagged.lang, top)
