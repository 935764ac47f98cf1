"""Reading ``clausetag predict`` / ``report`` inputs: policies, JSONL units, stdin, folders.

Every input becomes one ``Input``: a policy file (.txt, .md, .html, or stdin)
holds a ``Document`` whose plain text the segmenter splits into units on
demand; a JSONL file holds its records as units already split. ``Input.units``
gives both as ``InputUnit`` records, so no caller needs to ask which it is.
Every problem is a ``ClausetagError`` naming the file (and line), so a batch
over thousands of files fails with one message, never a traceback. Offsets of
document units index the *extracted* text: the file itself for .txt, the text
left after stripping markup (``inference.markup``) for .md and .html.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from clausetag.errors import ClausetagError
from clausetag.inference.markup import strip_html, strip_markdown
from clausetag.inference.segment import segment_places
from clausetag.inference.structure import Context, heading_field, kind_field, record_places
from clausetag.io import (
    DEFAULT_MAX_BYTES,
    MAX_BYTES_HINT,
    check_file_name,
    decode_text,
    is_blank,
    iter_jsonl,
    read_limited,
    read_text,
)

TEXT_SUFFIXES = (".txt", ".text")
MARKDOWN_SUFFIXES = (".md", ".markdown")
HTML_SUFFIXES = (".html", ".htm", ".xhtml")
JSONL_SUFFIXES = (".jsonl",)
#: What a directory input picks up. A file named explicitly may also have no suffix (plain text).
SUPPORTED_SUFFIXES = (*TEXT_SUFFIXES, *MARKDOWN_SUFFIXES, *HTML_SUFFIXES, *JSONL_SUFFIXES)
STDIN = "-"
STDIN_FORMATS = ("txt", "md", "html")


@dataclass(frozen=True)
class Document:
    """A whole policy as plain text, to be segmented into units."""

    doc: str
    text: str
    source: str


@dataclass(frozen=True)
class InputUnit:
    """One unit to tag: a JSONL record as given, or a span the segmenter cut from a policy.

    Not ``clausetag.data.corpus.CorpusUnit`` (a labelled unit of a training
    corpus). ``unit`` counts within ``doc``; ``id`` comes from a JSONL record,
    ``start``/``end``/``kind`` from the segmenter.
    """

    doc: str
    unit: int
    text: str
    source: str
    id: str | None = None
    start: int | None = None
    end: int | None = None
    kind: str | None = None
    #: A JSONL record's own ``heading`` (section path, nearest last); wins over derivation.
    heading: tuple[str, ...] | None = None
    #: Where the unit stands in its document (``inference.structure``), set by ``Input.units``.
    context: Context | None = None

    def record(self) -> dict[str, Any]:
        """Its fields as an output record (before labels and scores), absent ones left out."""
        rec: dict[str, Any] = {"doc": self.doc, "unit": self.unit}
        if self.id is not None:
            rec["id"] = self.id
        if self.start is not None:
            rec.update(start=self.start, end=self.end, kind=self.kind)
        rec["text"] = self.text
        return rec


@dataclass(frozen=True)
class Input:
    """One input of ``predict`` or ``report``: a whole policy, or a JSONL file's units.

    ``source`` names it in messages; ``units(lang)`` segments a policy (with the
    language's abbreviation rules) or returns the JSONL's units as given.
    """

    source: str
    document: Document | None = None
    presplit: tuple[InputUnit, ...] = ()

    @property
    def docs(self) -> list[str]:
        """The document names it holds, in order of first appearance."""
        if self.document is not None:
            return [self.document.doc]
        return list(dict.fromkeys(u.doc for u in self.presplit))

    def units(self, lang: str | None = None) -> list[InputUnit]:
        """The units, each with its place in its document (kind, section path, previous unit)."""
        if self.document is None:
            # Each document's units in their order; a record's own kind and heading win.
            records = [
                {"doc": u.doc, "text": u.text, "kind": u.kind, "heading": u.heading} for u in self.presplit
            ]
            found = record_places(records)
            return [
                dataclasses.replace(u, context=p.context) for u, p in zip(self.presplit, found, strict=True)
            ]
        d = self.document
        segments, found = segment_places(d.text, lang=lang)
        return [
            InputUnit(
                d.doc, i, seg.text, d.source, start=seg.start, end=seg.end, kind=seg.kind, context=p.context
            )
            for i, (seg, p) in enumerate(zip(segments, found, strict=True))
        ]


# --------------------------------------------------------------------------- inputs


def kind_of(path: Path) -> str:
    """What a file holds, by its suffix: txt, md, html or jsonl (no suffix: txt)."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return "md"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in TEXT_SUFFIXES or not suffix:
        return "txt"
    raise ClausetagError(
        f"{path}: unsupported file type {suffix!r}; use one of {', '.join(SUPPORTED_SUFFIXES)}"
    )


def plain_text(raw: str, kind: str, source: str) -> str:
    """The text a policy's units come from; refuses files that are all markup."""
    if kind == "md":
        text = strip_markdown(raw)
    elif kind == "html":
        text = strip_html(raw)
    else:
        text = raw
    if is_blank(text):
        raise ClausetagError(f"{source}: no text left after removing the markup")
    return text


def read_stdin(
    kind: str = "txt", max_bytes: int = DEFAULT_MAX_BYTES, stream: BinaryIO | None = None
) -> Document:
    """Standard input as one policy; read with the same size, binary and UTF-8 checks as a file."""
    if kind not in STDIN_FORMATS:
        raise ClausetagError(f"stdin format must be one of {', '.join(STDIN_FORMATS)}, not {kind!r}")
    source = "<stdin>"
    fh = stream if stream is not None else sys.stdin.buffer
    try:
        data = read_limited(fh, source, max_bytes, MAX_BYTES_HINT)
    except OSError as exc:
        raise ClausetagError(f"{source}: cannot read ({exc.strerror or type(exc).__name__})") from None
    text = decode_text(data, source)
    if is_blank(text):  # blanks and zero-width characters only, as for a file
        raise ClausetagError(f"{source}: the input is empty")
    return Document(doc="stdin", text=plain_text(text, kind, source), source=source)


def read_document(path: str | Path, doc: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """A .txt/.md/.html policy file as a ``Document`` (named by its stem unless ``doc``)."""
    p = Path(path)
    kind = kind_of(p)
    if kind == "jsonl":
        raise ClausetagError(f"{p}: a JSONL file holds units, not one policy document")
    raw = read_text(p, max_bytes, MAX_BYTES_HINT)
    return Document(doc=doc or p.stem, text=plain_text(raw, kind, str(p)), source=str(p))


def read_jsonl_units(
    path: str | Path, counters: dict[str, int] | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[InputUnit]:
    """Each JSONL record as one unit; its ``doc`` (else the file stem) and ``id`` are kept.

    ``counters`` carries unit numbers per doc across files so that (doc, unit)
    stays a unique key, which ``--resume`` relies on.
    """
    p = Path(path)
    counters = {} if counters is None else counters
    units = []
    for lineno, rec in iter_jsonl(p, ("text",), max_bytes, MAX_BYTES_HINT):
        if is_blank(rec["text"]):
            raise ClausetagError(
                f"{p}:{lineno}: field 'text' is empty (or only blanks and invisible characters)"
            )
        doc = str(rec["doc"]) if rec.get("doc") not in (None, "") else p.stem
        index = counters.get(doc, 0)
        counters[doc] = index + 1
        rid = rec.get("id")
        try:
            kind, heading = kind_field(rec.get("kind")), heading_field(rec.get("heading"))
        except ValueError as exc:
            raise ClausetagError(f"{p}:{lineno}: {exc}") from None
        where = f"{p}:{lineno}"
        units.append(
            InputUnit(doc, index, rec["text"], where, None if rid is None else str(rid), heading=heading)
        )
        if kind is not None:
            units[-1] = dataclasses.replace(units[-1], kind=kind)
    return units


def _folder_files(p: Path) -> list[str]:
    """A folder's supported files, sorted; hidden ones skipped."""
    try:
        found = sorted(
            str(f)
            for f in p.iterdir()
            if f.is_file() and not f.name.startswith(".") and f.suffix.lower() in SUPPORTED_SUFFIXES
        )
    except OSError as exc:
        raise ClausetagError(f"{p}: cannot list this directory ({exc.strerror or exc})") from None
    if not found:
        raise ClausetagError(f"{p}: no supported files in this directory ({', '.join(SUPPORTED_SUFFIXES)})")
    return found


def same_file_key(name: str) -> str:
    """What two names of one file share; never raises (a symlink loop keeps its own name)."""
    return "/dev/stdin" if name == STDIN else os.path.realpath(name)


def expand_inputs(inputs: Sequence[str]) -> list[str]:
    """Folders become their supported files (sorted, hidden ones skipped); files stay as given."""
    out: list[str] = []
    for name in inputs:
        if not name:
            raise ClausetagError("an input path is empty")
        out += _folder_files(Path(name)) if name != STDIN and Path(name).is_dir() else [name]
    seen: set[str] = set()
    for name in out:
        check_file_name(name, "input file")  # its name becomes a doc name in every record
        key = same_file_key(name)
        if key in seen:
            raise ClausetagError(f"{name}: given more than once")
        seen.add(key)
    return out


@dataclass
class DocNames:
    """Doc names unique across a run's inputs, so (doc, unit) identifies a unit of the run.

    A policy document is named by its file's stem, or longer when an earlier
    input took that (a.txt, a.html); a JSONL file's docs keep their names, go on
    counting their units where an earlier file left off, and may not be named
    like a policy document. ``read_inputs`` names docs with it, and so does
    ``--engine ray``'s plan, which reads no policy file.
    """

    whole: set[str] = field(default_factory=set)  # names of policy documents
    taken: set[str] = field(default_factory=set)  # every doc name so far
    counters: dict[str, int] = field(default_factory=dict)  # units of each JSONL doc so far

    def policy(self, path: Path) -> str:
        """A policy file's document name."""
        return self._document([path.stem, path.name, str(path)])

    def stdin(self) -> str:
        """Standard input's document name."""
        return self._document(["stdin", "<stdin>"])

    def jsonl(self, source: str, counts: Mapping[str, int]) -> dict[str, int]:
        """The first unit number of each doc of a JSONL file (``counts``: its units per doc)."""
        clash = sorted(set(counts) & self.whole)
        if clash:
            raise ClausetagError(f"{source}: doc {clash[0]!r} is also the name of a policy file input")
        offsets = {doc: self.counters.get(doc, 0) for doc in counts}
        self.counters.update({doc: offsets[doc] + n for doc, n in counts.items()})
        self.taken.update(counts)
        return offsets

    def _document(self, candidates: Sequence[str]) -> str:
        """The first free name: a file's stem, or longer when two inputs share it (a.txt, a.html)."""
        for name in candidates:
            if name not in self.taken:
                self.whole.add(name)
                self.taken.add(name)
                return name
        raise ClausetagError(f"{candidates[-1]}: given twice")


def _read_one(name: str, docs: DocNames, max_bytes: int, stdin_format: str, stdin: BinaryIO | None) -> Input:
    """One input; policy documents get a name no earlier input has taken."""
    if name == STDIN:
        doc = read_stdin(stdin_format, max_bytes, stdin)
        return Input(doc.source, document=Document(docs.stdin(), doc.text, doc.source))
    p = Path(name)
    if kind_of(p) == "jsonl":
        units = read_jsonl_units(name, dict(docs.counters), max_bytes)
        docs.jsonl(name, Counter(u.doc for u in units))
        return Input(name, presplit=tuple(units))
    document = read_document(p, docs.policy(p), max_bytes)
    return Input(document.source, document=document)


def read_inputs(
    inputs: Sequence[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    stdin_format: str = "txt",
    stdin: BinaryIO | None = None,
) -> list[Input]:
    """Read and check every input up front, so bad input fails before a long run starts.

    Doc names are unique across inputs (``DocNames``), so (doc, unit) identifies a unit of the run.
    """
    names = expand_inputs(inputs)
    if not names:
        raise ClausetagError("no input given")
    docs = DocNames()
    return [_read_one(name, docs, max_bytes, stdin_format, stdin) for name in names]
