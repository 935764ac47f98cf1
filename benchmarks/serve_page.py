"""Drive the ``clausetag serve`` web page in headless Chromium, check its DOM, take a screenshot.

    python benchmarks/serve_page.py --model models/clausetag-me5-small POLICY.txt \\
        [--screenshot docs/img/serve-page.png] [--ui lv]

Starts the server on a free 127.0.0.1 port (``benchmarks/serve.py``'s ``running_server``),
opens ``/`` in Chromium driven over the DevTools protocol (``--remote-debugging-pipe``:
the standard library only, no driver package), uploads POLICY through the page's file
input, appends a probe of markup a policy could carry (``<script>``, ``<img onerror>``),
presses "Tag", and checks what the page built:

- every unit of the server's own ``/v1/documents`` answer for that text is on the page,
  in order, with exactly its labels as chips;
- clicking a label's filter leaves exactly the units with that label undimmed;
- the Art. 13 summary has one row per item, with the report's statuses;
- the probe stayed text: no script ran (``window.__clausetag_probe`` unset), no ``<img>``
  or extra ``<script>`` exists, and the markup shows as characters;
- the LV button switches the interface (``<html lang="lv">``, the Latvian button text).

Exit status 0: passed; 1: problems (listed); 2: no browser.
``tests/test_serve_browser.py`` runs the same checks against a tiny model.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import fcntl
import json
import os
import select
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_browser import find_browser
from serve import Server, call, running_server

#: Markup a policy may carry; on the page it must stay text. Each part would set the flag if it ran.
PROBE = (
    "\n\nPolicy markup probe <script>window.__clausetag_probe = 1</script> "
    '<img src="x" onerror="window.__clausetag_probe = 2"> '
    '<b onmouseover="window.__clausetag_probe = 3">b</b>\n'
)
TIMEOUT_S = 120


class DevToolsError(RuntimeError):
    pass


class Chromium:
    """A headless Chromium over the DevTools pipe: one page, commands answered in order."""

    def __init__(
        self, browser: str, width: int = 1280, height: int = 900, timeout: float = TIMEOUT_S
    ) -> None:
        self.timeout = timeout
        self._profile = tempfile.TemporaryDirectory(prefix="clausetag-chromium-")
        to_chrome_r, self._to_chrome = os.pipe()  # Chromium reads commands on fd 3
        self._from_chrome, from_chrome_w = os.pipe()  # and writes answers on fd 4
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (to_chrome_r, from_chrome_w)]
        for fd in (to_chrome_r, from_chrome_w):
            os.close(fd)
        args = [
            browser,
            "--headless",
            "--no-sandbox",  # root in containers
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--remote-debugging-pipe",
            f"--user-data-dir={self._profile.name}",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        devnull = os.open(os.devnull, os.O_RDWR)
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
            (os.POSIX_SPAWN_DUP2, high[0], 3),
            (os.POSIX_SPAWN_DUP2, high[1], 4),
        ]
        try:
            self.pid = os.posix_spawn(browser, args, os.environ, file_actions=actions, setsid=True)
        finally:
            for fd in (*high, devnull):
                os.close(fd)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""
        target = self.send("Target.createTarget", {"url": "about:blank"}, browser_level=True)["targetId"]
        attached = self.send(
            "Target.attachToTarget", {"targetId": target, "flatten": True}, browser_level=True
        )
        self.session = attached["sessionId"]
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.resize(width, height)

    # ------------------------------------------------------------------ protocol

    def send(self, method: str, params: dict[str, Any] | None = None, browser_level: bool = False) -> Any:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not browser_level:
            message["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            for reply in self._read(deadline):
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise DevToolsError(f"{method}: {reply['error'].get('message')}")
                    return reply.get("result", {})
                if "method" in reply:
                    self.events.append(reply)

    def _read(self, deadline: float) -> list[dict[str, Any]]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DevToolsError(f"Chromium did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([self._from_chrome], [], [], left)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise DevToolsError("Chromium closed the DevTools pipe (it exited)")
                self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\0")
        return [json.loads(m) for m in complete if m]

    def evaluate(self, expression: str) -> Any:
        """A JavaScript expression's value (awaited when it is a promise); a thrown error raises."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise DevToolsError(f"page script failed: {text}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Poll ``expression`` until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        raise DevToolsError(f"timed out waiting for {expression}")

    def goto(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("document.readyState === 'complete' && document.body.dataset.state !== 'loading'")

    def set_file(self, selector: str, path: Path) -> None:
        """Choose ``path`` in a file input, as a user would (its change event fires)."""
        node = self.send(
            "Runtime.evaluate", {"expression": f"document.querySelector({json.dumps(selector)})"}
        )
        self.send(
            "DOM.setFileInputFiles", {"files": [str(path.resolve())], "objectId": node["result"]["objectId"]}
        )

    def resize(self, width: int, height: int) -> None:
        metrics = {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}
        self.send("Emulation.setDeviceMetricsOverride", metrics)

    def screenshot(self, png: Path, height: int = 1000) -> Path:
        """The top ``height`` pixels of the page (at most its whole length) as a PNG."""
        height = min(height, int(self.evaluate("document.documentElement.scrollHeight")))
        self.resize(int(self.evaluate("document.documentElement.clientWidth")), height)
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        png.parent.mkdir(parents=True, exist_ok=True)
        png.write_bytes(base64.b64decode(data))
        return png

    def close(self) -> None:
        with contextlib.suppress(DevToolsError, OSError):
            self.send("Browser.close", browser_level=True)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if os.waitpid(self.pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.killpg(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        for fd in (self._to_chrome, self._from_chrome):
            os.close(fd)
        self._profile.cleanup()

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --------------------------------------------------------------------------- the checks

#: What the page shows, read in one go: units with their chips, filters, summary rows.
READ_PAGE = """(() => ({
  lang: document.documentElement.lang,
  units: [...document.querySelectorAll('#units .unit')].map(u => ({
    index: Number(u.dataset.index),
    text: u.querySelector('.unit-text').textContent,
    chips: [...u.querySelectorAll('.chip')].map(c => c.dataset.label),
    dim: u.classList.contains('dim'),
  })),
  filters: [...document.querySelectorAll('#filters button[data-label]')]
    .map(b => b.dataset.label).filter(Boolean),
  items: [...document.querySelectorAll('#items li')]
    .map(li => ({key: li.dataset.item, status: li.dataset.status})),
  probe: window.__clausetag_probe === undefined ? null : window.__clausetag_probe,
  scripts: document.scripts.length,
  images: document.images.length,
  handlers: [...document.querySelectorAll('#units *')]
    .filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,
  unitsText: document.querySelector('#units').textContent,
  status: document.querySelector('#status').textContent,
  state: document.body.dataset.state,
  tagButton: document.querySelector('#submit').textContent,
}))()"""


def check_page(
    browser: str, server: Server, policy: Path, png: Path | None = None, ui: str = "en"
) -> list[str]:
    """Upload ``policy`` through the page, tag it, and check what the page shows (empty: passed)."""
    problems: list[str] = []
    with Chromium(browser) as page:
        page.goto(server.url + "/")
        page.set_file("#file", policy)
        page.wait_for("document.querySelector('#policy').value.length > 0")
        page.evaluate(f"document.querySelector('#policy').value += {json.dumps(PROBE)}; true")
        text = page.evaluate("document.querySelector('#policy').value")
        page.evaluate("document.querySelector('#submit').click(); true")
        state = page.wait_for(
            "['done', 'error'].includes(document.body.dataset.state) && document.body.dataset.state"
        )
        shown = page.evaluate(READ_PAGE)
        if state != "done":
            return [f"the page says: {shown['status']}"]
        expected = call(
            server, "POST", "/v1/documents", {"text": text, "report": True, "doc": policy.stem}
        ).json()
        problems += _check_units(shown, expected)
        problems += _check_probe(shown)
        problems += _check_filter(page, expected)
        statuses = {i["key"]: i["status"] for i in expected["report"]["items"]}
        if {i["key"]: i["status"] for i in shown["items"]} != statuses:
            problems.append(f"the Art. 13 summary shows {shown['items']}, the report says {statuses}")
        page.evaluate("document.querySelector('[data-ui-lang=lv]').click(); true")
        lv = page.evaluate(READ_PAGE)
        if lv["lang"] != "lv" or lv["tagButton"] != "Marķēt politiku":
            problems.append(f"the LV button left lang={lv['lang']!r}, button {lv['tagButton']!r}")
        if ui == "en":
            page.evaluate("document.querySelector('[data-ui-lang=en]').click(); true")
        if png is not None:
            page.evaluate(
                "document.querySelector('#filters button.clear').click(); window.scrollTo(0, 0); true"
            )
            page.screenshot(png)
    return problems


def _check_units(shown: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    units = expected["units"]
    if len(shown["units"]) != len(units):
        return [f"the page shows {len(shown['units'])} units, the server found {len(units)}"]
    problems = []
    for got, want in zip(shown["units"], units, strict=True):
        if got["text"] != want["text"] or got["chips"] != want["labels"]:
            problems.append(
                f"unit {want['index']}: page {got['text']!r} {got['chips']}, server {want['labels']}"
            )
    labelled = sum(bool(u["labels"]) for u in units)
    if not labelled:
        problems.append("no unit has a label: nothing to see on the page")
    return problems[:5]


def _check_probe(shown: dict[str, Any]) -> list[str]:
    problems = []
    if shown["probe"] is not None:
        problems.append(f"policy markup ran as code (probe = {shown['probe']})")
    if shown["scripts"] != 1 or shown["images"] or shown["handlers"]:
        problems.append(
            f"policy markup became elements: {shown['scripts']} scripts, {shown['images']} images, "
            f"{shown['handlers']} inline handlers"
        )
    if "<script>window.__clausetag_probe = 1</script>" not in shown["unitsText"]:
        problems.append("the probe's markup is not shown as text")
    return problems


def _check_filter(page: Chromium, expected: dict[str, Any]) -> list[str]:
    counts: dict[str, int] = {}
    for unit in expected["units"]:
        for label in unit["labels"]:
            counts[label] = counts.get(label, 0) + 1
    if not counts:
        return []
    label = min(counts, key=lambda name: (counts[name], name))  # the rarest: a filter that really filters
    page.evaluate(f"document.querySelector('#filters button[data-label={json.dumps(label)}]').click(); true")
    shown = page.evaluate(READ_PAGE)
    lit = [u["index"] for u in shown["units"] if not u["dim"]]
    want = [u["index"] for u in expected["units"] if label in u["labels"]]
    page.evaluate("document.querySelector('#filters button.clear').click(); true")
    after = page.evaluate(READ_PAGE)
    problems = []
    if lit != want:
        problems.append(f"filter {label!r} leaves units {lit[:10]} lit, expected {want[:10]}")
    if any(u["dim"] for u in after["units"]):
        problems.append("'all labels' left units dimmed")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("policy", type=Path, help="a .txt, .md or .html policy to upload")
    parser.add_argument("--model", required=True, help="model directory")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--screenshot", type=Path, default=None, help="write a PNG of the tagged page here")
    parser.add_argument(
        "--ui", choices=("en", "lv"), default="en", help="interface language of the screenshot"
    )
    parser.add_argument("--browser", default=None, help="browser binary (default: chromium on PATH)")
    args = parser.parse_args(argv)
    browser = args.browser or find_browser()
    if browser is None:
        print("no headless browser found; apt-get install chromium", file=sys.stderr)
        return 2
    with running_server(args.model, "--backend", args.backend, "--no-access-log") as server:
        problems = check_page(browser, server, args.policy, args.screenshot, args.ui)
    for problem in problems:
        print(f"{args.policy}: {problem}", file=sys.stderr)
    if not problems:
        print(f"ok: {args.policy} tagged on the page in {Path(browser).name}", end="")
        print(f", screenshot {args.screenshot}" if args.screenshot else "")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
