"""Markup to plain text: light Markdown stripping and an HTML text extractor.

The policy readers (``inference.readers``) call ``strip_markdown`` and
``strip_html``; both keep one line per block so the segmenter sees the
document's structure, and both run in time linear in their input however
malformed it is (a 2 MB line of ``**a`` or 200 000 nested ``<div>``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Any

# --------------------------------------------------------------------------- markdown


def _heading_text(m: re.Match[str]) -> str:
    """An ATX heading as the segmenter's heading mark (its level's hashes) and its text, without
    the optional closing hashes (string ops: linear)."""
    text = m.group(2).rstrip(" \t").rstrip("#").rstrip(" \t")
    return f"{m.group(1)} {text}" if text else ""


def _table_row(m: re.Match[str]) -> str:
    """A Markdown table row as the segmenter's table-row line: cells trimmed, " | " between them."""
    return " | ".join(cell.strip() for cell in m.group(1).split("|"))


#: A link's or image's target: one level of parentheses inside, or <…> (possessive: linear).
_LINK_TARGET = r"\((?:[^()<]|<[^<>]*>|\([^()]*\))*+\)"
#: Autolink schemes kept as visible text; any other (javascript:, data:, vbscript:) is dropped.
_SAFE_SCHEMES = frozenset({"http", "https", "mailto", "ftp", "ftps", "tel"})


def _autolink(m: re.Match[str]) -> str:
    """``<https://…>`` becomes its URL as text; ``<javascript:…>`` and other schemes disappear."""
    return f"{m.group(1)}:{m.group(2)}" if m.group(1).lower() in _SAFE_SCHEMES else ""


# Every pattern is linear in its input (a 2 MB line of "**a " must not take minutes):
# bracket and parenthesis spans stop at the next bracket, bold cannot run past the
# next "**", and no lazy group is followed by an optional trailing run.
_MD_RULES: tuple[tuple[re.Pattern[str], str | Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"^[ \t]{0,3}(```|~~~).*$", re.M), ""),  # code fences (content kept)
    (re.compile(r"^[ \t]{0,3}([-*_])([ \t]*\1){2,}[ \t]*$", re.M), ""),  # horizontal rules
    (re.compile(r"^[ \t]{0,3}=+[ \t]*$", re.M), ""),  # setext heading underlines
    (re.compile(r"^[ \t]*\|?([ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$", re.M), ""),  # table separators
    (re.compile(r"^[ \t]{0,3}(#{1,6})[ \t]+(.*)$", re.M), _heading_text),  # ATX headings (level kept)
    (re.compile(r"^([ \t]*)(\d{1,3}[.)][ \t]+)", re.M), r"\1- \2"),  # ordered list items: bulleted
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.M), ""),  # block quotes
    (re.compile(r"^([ \t]*)\+[ \t]+", re.M), r"\1- "),  # "+" bullets → "-" (the segmenter's)
    (re.compile(rf"!\[([^\[\]]*)\]{_LINK_TARGET}"), r"\1"),  # images → alt text
    (re.compile(rf"\[([^\[\]]+)\]{_LINK_TARGET}"), r"\1"),  # links → their text (never the target)
    (re.compile(r"<([A-Za-z][A-Za-z0-9+.-]{1,31}):([^<>\s]*)>"), _autolink),  # <scheme:…>
    (re.compile(r"<([^<>\s@]+@[^<>\s@]+)>"), r"\1"),  # <name@example.com>
    (re.compile(r"</?[A-Za-z][\w:-]*(?:\s[^<>]*)?/?>"), ""),  # inline HTML tags (their text stays)
    (re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]"), r"\1"),  # reference links
    (re.compile(r"^[ \t]{0,3}\[[^\[\]\n]+\]:[ \t]+\S+.*$", re.M), ""),  # link definitions
    # A line that is one bold label ("**Retention**") is a sub-heading: the lowest level.
    (re.compile(r"^[ \t]{0,3}(\*\*|__)(?=\S)([^*_\n]{0,99}[^*_\s:])\1[ \t]*$", re.M), r"###### \2"),
    (re.compile(r"(\*\*|__)(?=\S)((?:(?!\1).)+?)(?<=\S)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), r"\1"),  # *italic*
    (re.compile(r"(?<!\w)_(?=\S)([^_\n]+?)(?<=\S)_(?!\w)"), r"\1"),  # _italic_
    (re.compile(r"`([^`\n]+)`"), r"\1"),  # inline code
    (re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.M), _table_row),  # table rows: " | " between cells
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
        "tfoot",
        "thead",
        "title",
        "tr",
        "ul",
    }
)
_WS = re.compile(r"\s+")


#: What a block's line starts with, so the segmenter knows what the markup said: list items and
#: definition terms are bulleted, headings marked with their level as in Markdown.
_LINE_MARKS = {"li": "- ", "dt": "- ", **{f"h{n}": "#" * n + " " for n in range(1, 7)}}
_CELL_TAGS = frozenset({"td", "th"})
#: Between the cells of one table row (the segmenter reads such a line as one table row).
CELL_SEPARATOR = " | "


class _TextSink:
    """Collects inline text and block breaks; renders one clean line per block.

    Table cells stay on their row's line, separated by " | ".
    """

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.current: list[str] = []
        self.mark = ""

    def cell(self) -> None:
        """A table cell starts: after another cell's text on this line, a separator."""
        if "".join(self.current).strip() not in ("", self.mark.strip()):
            self.current.append(CELL_SEPARATOR)

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
        line = _WS.sub(" ", "".join(self.current)).strip().removesuffix(CELL_SEPARATOR.strip()).strip()
        bare = self.mark.strip()
        # "<li><p>text", "<h2><div>text": the mark waits for the block's first text.
        carry = bool(bare) and line == bare and opening is not None
        if line and not (bare and line == bare):
            self.lines.append(line)
        if opening in _LINE_MARKS:
            self.mark = _LINE_MARKS[opening]
        elif not carry:
            self.mark = ""
        self.current = [self.mark] if self.mark else []

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
        elif tag in _CELL_TAGS:
            self.sink.cell()
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
        elif tag in _CELL_TAGS:
            sink.cell()
        stack.append((node, True, pre))
        children = list(node.iter(include_text=True))
        stack.extend((child, False, pre or tag == "pre") for child in reversed(children))
    return sink.result()


#: Elements nested deeper are unwrapped (their text kept) before parsing: lexbor's
#: tree building is quadratic in depth (200 000 nested <div> took minutes).
MAX_TREE_DEPTH = 512
#: Longer tags keep only their name (see ``bound_nesting``); real ones are far shorter.
MAX_TAG_CHARS = 4096
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

    Also cuts a tag longer than ``MAX_TAG_CHARS`` to its bare name: attributes are
    never text, and lexbor's attribute handling is quadratic in their number (a tag
    with 100 000 attributes took 19 s). One pass over the tags: a tag ends at the
    next '>', each search for it starts where the last one stopped, so this is
    linear however malformed the markup.
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
            if tag_end - m.start() > MAX_TAG_CHARS:
                out.append(markup[kept : m.start()] + f"<{m.group(1)}{m.group(2)}>")
                kept = tag_end
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
