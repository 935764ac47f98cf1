"""The HTML report in a real headless browser (Chromium); skipped where none is installed.

The checks live in ``benchmarks/report_browser.py``, which also runs by hand:
``python benchmarks/report_browser.py report.html --screenshot report.png``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from helpers import REPO

from clausetag.cli import main as cli

spec = importlib.util.spec_from_file_location("report_browser", REPO / "benchmarks" / "report_browser.py")
assert spec is not None and spec.loader is not None
report_browser = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report_browser)

BROWSER = report_browser.find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no headless browser (apt-get install chromium)")

POLICY = (
    "Privacy policy\n\n"
    "SIA Example is the controller of your personal data; write to privacy@example.lv.\n"
    "We keep invoices for five years, as the Accounting Law requires.\n"
    "You may complain to the Data State Inspectorate. <script>alert(1)</script>"
    '<img src=x onerror="alert(2)"> <iframe src="https://example.org"></iframe>\n'
)


def test_the_checks_catch_injected_markup() -> None:
    """Without a browser: the DOM checks themselves refuse a page that carries a policy's markup."""
    page = (
        '<html lang="en"><head><title>T: d</title></head><body><h1>T: d</h1><script>x</script></body></html>'
    )
    problems = report_browser.check_dom(page, items=0, doc="d")
    assert problems == ["markup the report never writes: ['script']"]


@needs_browser
def test_html_report_renders_in_a_real_browser(tiny_model: Path, tmp_path: Path) -> None:
    policy = tmp_path / "acme.txt"
    policy.write_text(POLICY, encoding="utf-8")
    page = tmp_path / "report.html"
    assert cli(["report", "--model", str(tiny_model), "-q", str(policy), "-o", str(page)]) == 0
    png = tmp_path / "report.png"
    assert report_browser.check_page(page, BROWSER, png, doc="acme") == []
    assert png.stat().st_size > 10_000  # a laid-out page, not a blank one
    assert report_browser.main([str(page), "--doc", "acme"]) == 0
