"""Open a ``clausetag report --format html`` page in a real headless browser and check it.

    python benchmarks/report_browser.py report.html [--screenshot report.png]

Chromium (Debian's ``chromium``; ``google-chrome`` works too) loads the file,
runs its parser and layout, and hands back the DOM it built; the page passes
when that DOM has the report's parts and nothing a policy could smuggle in:

- ``<html lang>`` is en or lv, ``<title>`` and one ``<h1>`` name the document;
- the summary table has one row per Art. 13 item, each linking to a section
  whose ``id`` exists on the page;
- no ``<script>``, ``<iframe>``, ``<img>`` or inline event handler exists (the
  page has none of its own, so any would have come from policy text);
- with ``--screenshot``, the page renders to a non-empty PNG.

Exit status 0: the page passed; 1: problems (listed); 2: no browser found.
``tests/test_report_browser.py`` runs the same checks where a browser exists.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
#: Elements the report never writes itself: present in the DOM means injected markup.
FORBIDDEN_TAGS = frozenset({"script", "iframe", "img", "object", "embed", "svg", "form"})
TIMEOUT_S = 120


def find_browser() -> str | None:
    """The first headless-capable browser on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


def _run(browser: str, page: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="clausetag-browser-") as profile:
        cmd = [
            browser,
            "--headless",
            "--no-sandbox",  # runs as root in containers
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            *flags,
            page.resolve().as_uri(),
        ]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)


def dump_dom(browser: str, page: Path) -> str:
    """The DOM the browser built from ``page``, serialised after load."""
    done = _run(browser, page, "--dump-dom")
    if done.returncode != 0 or "<html" not in done.stdout:
        raise RuntimeError(f"{browser} could not load {page}: {done.stderr.strip()[-500:]}")
    return done.stdout


def screenshot(browser: str, page: Path, png: Path) -> Path:
    """A full-width PNG of ``page`` as the browser laid it out."""
    _run(browser, page, f"--screenshot={png.resolve()}", "--window-size=1200,2400", "--hide-scrollbars")
    if not png.is_file() or png.read_bytes()[:8] != b"\x89PNG\r\n\x1a\n":
        raise RuntimeError(f"{browser} wrote no screenshot of {page}")
    return png


class _Dom(HTMLParser):
    """What the checks need of a parsed DOM."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lang = ""
        self.title = ""
        self.h1 = ""
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.rows = 0
        self.injected: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "html":
            self.lang = values.get("lang", "")
        if values.get("id"):
            self.ids.add(values["id"])
        if tag == "a" and values.get("href", "").startswith("#"):
            self.links.append(values["href"][1:])
        if tag == "tr" and "tbody" in self.open:
            self.rows += 1
        if tag in FORBIDDEN_TAGS:
            self.injected.append(tag)
        self.injected += [f"{tag}[{k}]" for k in values if k.startswith("on")]
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open:
            del self.open[len(self.open) - 1 - self.open[::-1].index(tag) :]

    def handle_data(self, data: str) -> None:
        if self.open[-1:] == ["title"]:
            self.title += data
        elif "h1" in self.open:
            self.h1 += data


def check_dom(dom_html: str, items: int, doc: str | None = None) -> list[str]:
    """Problems with the page's DOM (empty: it passed). ``items``: Art. 13 rows expected."""
    dom = _Dom()
    dom.feed(dom_html)
    dom.close()
    problems = []
    if dom.lang not in ("en", "lv"):
        problems.append(f"<html lang> is {dom.lang!r}, expected en or lv")
    if not dom.title.strip() or dom.title.strip() != dom.h1.strip():
        problems.append(f"title {dom.title!r} and h1 {dom.h1!r} differ or are empty")
    if doc is not None and not dom.title.endswith(f": {doc}"):
        problems.append(f"title {dom.title!r} does not name document {doc!r}")
    if dom.rows != items:
        problems.append(f"the summary table has {dom.rows} rows, expected {items}")
    missing = [link for link in dom.links if link not in dom.ids]
    if missing or len(dom.links) != items:
        problems.append(f"{len(dom.links)} links to sections, {len(missing)} without a target: {missing}")
    if dom.injected:
        problems.append(f"markup the report never writes: {dom.injected}")
    return problems


def check_page(page: Path, browser: str, png: Path | None = None, doc: str | None = None) -> list[str]:
    """Load ``page`` in ``browser`` and check its DOM against the Art. 13 item list."""
    from clausetag.inference.report import ART13_ITEMS

    problems = check_dom(dump_dom(browser, page), len(ART13_ITEMS), doc)
    if png is not None:
        screenshot(browser, page, png)
    return problems


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("page", type=Path, help="an HTML report written by `clausetag report`")
    parser.add_argument("--screenshot", type=Path, default=None, help="also write a PNG of the page")
    parser.add_argument("--browser", default=None, help=f"browser binary (default: first of {BROWSERS})")
    parser.add_argument("--doc", default=None, help="the document name the title must end with")
    args = parser.parse_args(argv)
    browser = args.browser or find_browser()
    if browser is None:
        print(f"no headless browser found ({', '.join(BROWSERS)}); apt-get install chromium", file=sys.stderr)
        return 2
    problems = check_page(args.page, browser, args.screenshot, args.doc)
    for problem in problems:
        print(f"{args.page}: {problem}", file=sys.stderr)
    if not problems:
        shot = f", screenshot {args.screenshot}" if args.screenshot else ""
        print(f"ok: {args.page} rendered in {Path(browser).name}{shot}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
