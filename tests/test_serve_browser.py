"""The ``clausetag serve`` web page in a real headless browser (Chromium); skipped where none is installed.

The driver and the checks live in ``benchmarks/serve_page.py`` (which also writes the README's
screenshot): the page is loaded from the running server, a seed policy is uploaded through its
file input with markup appended that would run if it were not escaped, and the DOM must show
every unit with its labels, a filter that filters, the Art. 13 summary and the LV interface.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, SEEDS

spec = importlib.util.spec_from_file_location("serve_page", REPO / "benchmarks" / "serve_page.py")
assert spec is not None and spec.loader is not None
serve_page = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = serve_page
spec.loader.exec_module(serve_page)

BROWSER = serve_page.find_browser()
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no headless browser (apt-get install chromium)")


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[Any]:
    with serve_page.running_server(tiny_model, "--no-access-log") as running:
        yield running


def seed_policy(tmp_path: Path) -> Path:
    seeds = sorted(SEEDS.glob("*.txt"))
    if seeds:
        return seeds[0]
    policy = tmp_path / "policy.txt"  # no seeds beside the repo: a small policy of our own
    policy.write_text(
        "Privacy policy\n\n"
        "SIA Example is the controller of your personal data; write to privacy@example.lv.\n"
        "We keep invoices for five years, as the Accounting Law requires.\n"
        "You may complain to the Data State Inspectorate.\n",
        encoding="utf-8",
    )
    return policy


@needs_browser
def test_page_tags_an_uploaded_policy(server: Any, tmp_path: Path) -> None:
    png = tmp_path / "page.png"
    assert serve_page.check_page(BROWSER, server, seed_policy(tmp_path), png) == []
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000


@needs_browser
def test_page_shows_a_server_error(server: Any) -> None:
    """An empty policy never reaches the server; one the server refuses shows its message."""
    with serve_page.Chromium(BROWSER) as page:
        page.goto(server.url + "/")
        page.evaluate("document.querySelector('#submit').click(); true")
        assert "Paste a policy" in page.evaluate("document.querySelector('#status').textContent")
        page.evaluate("document.querySelector('#policy').value = '<p></p>'; true")
        page.evaluate("document.querySelector('#format').value = 'html'; true")
        page.evaluate("document.querySelector('#submit').click(); true")
        assert page.wait_for("document.body.dataset.state === 'error'")
        status = page.evaluate("document.querySelector('#status').textContent")
        assert "no text left after removing the markup" in status
