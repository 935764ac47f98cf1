"""Reading ``clausetag predict`` / ``report`` inputs: policies, JSONL units, stdin, folders.

A policy file (.txt, .md, .html) becomes one ``Document`` whose plain text the
segmenter splits into units; a JSONL file becomes ``Unit`` records, one per line,
already split. Every problem is a ``ClausetagError`` naming the file (and line),
so a batch over thousands of files fails with one message, never a traceback.
Offsets of document units index the *extracted* text: the file itself for .txt,
the text left after stripping markup for .md and .html.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, BinaryIO

from clausetag.errors import ClausetagError
from clausetag.io import (
    DEFAULT_MAX_BYTES,
    MAX_BYTES_HINT,
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
class Unit:
    """One pre-split unit from a JSONL record; ``unit`` counts within its ``doc``."""

    doc: str
    unit: int
    text: str
    source: str
    id: str | None = None


Input = Document | list[Unit]


# --------------------------------------------------------------------------- markdown


def _heading_text(m: re.Match[str]) -> str:
    """An ATX heading's text without its optional closing hashes (string ops: linear)."""
    return m.group(1).rstrip(" \t").rstrip("#").rstrip(" \t")


# Every pattern is linear in its input (a 2 MB line of "**a " must not take minutes):
# bracket and parenthesis spans stop at the next bracket, bold cannot run past the
# next "**", and no lazy group is followed by an optional trailing run.
_MD_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^[ \t]{0,3}(```|~~~).*$", re.M), ""),  # code fences (content kept)
    (re.compile(r"^[ \t]{0,3}([-*_])([ \t]*\1){2,}[ \t]*$", re.M), ""),  # horizontal rules
    (re.compile(r"^[ \t]{0,3}=+[ \t]*$", re.M), ""),  # setext heading underlines
    (re.compile(r"^[ \t]*\|?([ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$", re.M), ""),  # table separators
    (re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*)$", re.M), _heading_text),  # ATX headings
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.M), ""),  # block quotes
    (re.compile(r"^([ \t]*)\+[ \t]+", re.M), r"\1- "),  # "+" bullets → "-" (the segmenter's)
    (re.compile(r"!\[([^\[\]]*)\]\([^()]*\)"), r"\1"),  # images → alt text
    (re.compile(r"\[([^\[\]]+)\]\([^()]*\)"), r"\1"),  # links → their text
    (re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]"), r"\1"),  # reference links
    (re.compile(r"^[ \t]{0,3}\[[^\[\]\n]+\]:[ \t]+\S+.*$", re.M), ""),  # link definitions
    (re.compile(r"(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"), r"\1"),  # _italic_
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code
    (re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.M), r"\1"),  # table rows: outer pipes
)


def drop_comments(text: str) -> str:
    """Remove ``<!-- … -->`` comments; an unclosed one stays as text (one pass, no regex rescans)."""
    out: list[str] = []
    pos = 0
    while (start := text.find("<!--", pos)) != -1:
        end = text.find("-->", start + 4)
        if end == -1:
            break
        out.append(text[pos:start])
        pos = end + 3
    out.append(text[pos:])
    return "".join(out)


def strip_markdown(text: str) -> str:
    """Markdown to plain lines: drop markup the model never saw, keep one line per block.

    Deliberately light (no full CommonMark): headings, emphasis, links, images,
    quotes, rules and table pipes. Bullets and numbering stay for the segmenter.
    """
    text = drop_comments(text)
    for pattern, repl in _MD_RULES:
        text = pattern.sub(repl, text)
    return text


# --------------------------------------------------------------------------- html

_SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object"})
_BLOCK_TAGS = frozenset(
    {
        "address",
        "article",
        "aside",
        "blockquote",
        "body",
        "br",
        "caption",
        "dd",
        "details",
        "dialog",
        "div",
        "dl",
        "dt",
        "fieldset",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "html",
        "legend",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "title",
        "tr",
        "ul",
    }
)
_WS = re.compile(r"\s+")


class _TextSink:
    """Collects inline text and block breaks; renders one clean line per block."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []

    def text(self, s: str, pre: bool = False) -> None:
        if not pre:
            self.current.append(s)
            return
        first, *rest = s.split("\n")
        self.current.append(first)
        for part in rest:
            self.newline()
            self.current.append(part)

    def newline(self, opening: str | None = None) -> None:
        """End the current line; ``opening`` is the block tag starting the next one."""
        line = _WS.sub(" ", "".join(self.current)).strip()
        # "<li><p>text" : the bullet waits for the item's first text.
        carry = line == "-" and opening is not None
        if line and line != "-":
            self.lines.append(line)
        self.current = ["- "] if opening == "li" or carry else []

    def result(self) -> str:
        self.newline()
        return "\n".join(self.lines)


class _StdlibHTML(HTMLParser):
    """The fallback when selectolax is not installed: same output rules."""

    def __init__(self, sink: _TextSink) -> None:
        super().__init__(convert_charrefs=True)
        self.sink = sink
        self.skipping: dict[str, int] = {}
        self.pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self.skipping[tag] = self.skipping.get(tag, 0) + 1
        elif tag in _BLOCK_TAGS:
            self.sink.newline(opening=tag)
        self.pre += tag == "pre"

    def handle_endtag(self, tag: str) -> None:
        if self.skipping.get(tag):
            self.skipping[tag] -= 1
        elif tag in _BLOCK_TAGS and tag != "br":
            self.sink.newline()
        if tag == "pre" and self.pre:
            self.pre -= 1

    def handle_data(self, data: str) -> None:
        if not any(self.skipping.values()):
            self.sink.text(data, pre=self.pre > 0)


def _html_stdlib(markup: str) -> str:
    sink = _TextSink()
    parser = _StdlibHTML(sink)
    parser.feed(markup)
    parser.close()
    return sink.result()


def _html_selectolax(markup: str) -> str:
    """Walk the lexbor DOM with an explicit stack: deep nesting cannot overflow recursion."""
    from selectolax.lexbor import LexborHTMLParser

    sink = _TextSink()
    root = LexborHTMLParser(markup).root
    if root is None:
        return ""
    stack: list[tuple[Any, bool, bool]] = [(root, False, False)]
    while stack:
        node, closing, pre = stack.pop()
        tag = node.tag
        if closing:
            if tag in _BLOCK_TAGS and tag != "br":
                sink.newline()
            continue
        if tag == "-text":
            sink.text(node.text(deep=False) or "", pre=pre)
            continue
        if tag.startswith("-") or tag in _SKIP_TAGS:
            continue  # comments, doctype, scripts, styles
        if tag in _BLOCK_TAGS:
            sink.newline(opening=tag)
        stack.append((node, True, pre))
        children = list(node.iter(include_text=True))
        stack.extend((child, False, pre or tag == "pre") for child in reversed(children))
    return sink.result()


#: Elements nested deeper are unwrapped (their text kept) before parsing: lexbor's
#: tree building is quadratic in depth (200 000 nested <div> took minutes).
MAX_TREE_DEPTH = 512
_OPEN_OR_CLOSE = re.compile(r"<(/?)([A-Za-z][\w:-]*)")
#: Elements that never nest in a parsed tree: void ones, and those a sibling closes.
_FLAT_TAGS = frozenset(
    {
        *("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source"),
        *("track", "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "rb", "rt"),
        *("rp", "thead", "tbody", "tfoot", "colgroup"),
    }
)


class _Nesting:
    """Depth bookkeeping for ``bound_nesting``: which tags to drop."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self.excess = 0  # open tags dropped and not yet closed

    def drop(self, closing: bool) -> bool:
        if closing:
            if self.excess:
                self.excess -= 1
                return True
            self.depth = max(self.depth - 1, 0)
            return False
        if self.depth >= self.limit:
            self.excess += 1
            return True
        self.depth += 1
        return False


def bound_nesting(markup: str, limit: int = MAX_TREE_DEPTH) -> str:
    """Remove the tags that would nest deeper than ``limit`` (an upper estimate); their text stays.

    One pass over the tags: a tag ends at the next '>', each search for it starts
    where the last one stopped, so this is linear however malformed the markup.
    """
    nesting = _Nesting(limit)
    out: list[str] = []
    kept = 0  # markup before this is copied or dropped
    tag_end = 0  # no tag starts inside the previous one
    for m in _OPEN_OR_CLOSE.finditer(markup):
        if m.start() < tag_end:
            continue
        gt = markup.find(">", m.end())
        if gt == -1:
            break  # no tag can end: the rest is text (or one broken tag) to any parser
        tag_end = gt + 1
        if m.group(2).lower() in _FLAT_TAGS or not nesting.drop(bool(m.group(1))):
            continue
        out.append(markup[kept : m.start()])
        kept = tag_end
    out.append(markup[kept:])
    return "".join(out)


def strip_html(markup: str) -> str:
    """HTML to plain lines: scripts and styles dropped, one line per block, list items bulleted.

    Nesting is bounded first, so a nesting bomb parses in linear time.
    """
    markup = bound_nesting(markup)
    try:
        import selectolax.lexbor  # noqa: F401
    except ImportError:
        return _html_stdlib(markup)
    return _html_selectolax(markup)


# --------------------------------------------------------------------------- inputs


def _kind_of(path: Path) -> str:
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
    if not text.strip():
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
    if not text.strip():
        raise ClausetagError(f"{source}: the input is empty")
    return Document(doc="stdin", text=plain_text(text, kind, source), source=source)


def read_document(path: str | Path, doc: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> Document:
    """A .txt/.md/.html policy file as a ``Document`` (named by its stem unless ``doc``)."""
    p = Path(path)
    kind = _kind_of(p)
    if kind == "jsonl":
        raise ClausetagError(f"{p}: a JSONL file holds units, not one policy document")
    raw = read_text(p, max_bytes, MAX_BYTES_HINT)
    return Document(doc=doc or p.stem, text=plain_text(raw, kind, str(p)), source=str(p))


def read_jsonl_units(
    path: str | Path, counters: dict[str, int] | None = None, max_bytes: int = DEFAULT_MAX_BYTES
) -> list[Unit]:
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
        units.append(Unit(doc, index, rec["text"], f"{p}:{lineno}", None if rid is None else str(rid)))
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
        key = same_file_key(name)
        if key in seen:
            raise ClausetagError(f"{name}: given more than once")
        seen.add(key)
    return out


def _unique_name(candidates: Sequence[str], taken: set[str]) -> str:
    """The first free name: a file's stem, or longer when two inputs share it (a.txt, a.html)."""
    for name in candidates:
        if name not in taken:
            return name
    raise ClausetagError(f"{candidates[-1]}: given twice")


def read_inputs(
    inputs: Sequence[str],
    max_bytes: int = DEFAULT_MAX_BYTES,
    stdin_format: str = "txt",
    stdin: BinaryIO | None = None,
) -> list[Input]:
    """Read and check every input up front, so bad input fails before a long run starts.

    Doc names are unique across inputs, so (doc, unit) identifies a unit of the run.
    """
    names = expand_inputs(inputs)
    if not names:
        raise ClausetagError("no input given")
    whole: set[str] = set()  # names of policy documents
    taken: set[str] = set()  # every doc name so far
    counters: dict[str, int] = {}
    out: list[Input] = []
    for name in names:
        if name == STDIN:
            doc = read_stdin(stdin_format, max_bytes, stdin)
            item: Input = Document(_unique_name(["stdin", "<stdin>"], taken), doc.text, doc.source)
        elif _kind_of(Path(name)) == "jsonl":
            item = read_jsonl_units(name, counters, max_bytes)
            clash = sorted({u.doc for u in item} & whole)
            if clash:
                raise ClausetagError(f"{name}: doc {clash[0]!r} is also the name of a policy file input")
        else:
            p = Path(name)
            item = read_document(p, _unique_name([p.stem, p.name, str(p)], taken), max_bytes)
        if isinstance(item, Document):
            whole.add(item.doc)
            taken.add(item.doc)
        else:
            taken.update(u.doc for u in item)
        out.append(item)
    return out
