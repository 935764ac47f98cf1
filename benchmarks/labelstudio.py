"""A real Label Studio server for the annotation loop: started on 127.0.0.1, driven, stopped.

``tests/test_labelstudio.py`` uses ``label_studio`` and ``run_client`` for its round trip; by hand
this takes the screenshot of a task that the annotation docs show:

    clausetag annotate export --model MODEL --format labelstudio --select uncertain -k 10 \\
        -o runs/batch tests/fixtures/annotate
    python benchmarks/labelstudio.py runs/batch --screenshot docs/img/labelstudio-task.png

The server is ``.venv-labelstudio/bin/label-studio`` (``make labelstudio``) or
``$CLAUSETAG_LABEL_STUDIO``, on a free port of 127.0.0.1 only, with SQLite, its data and home in
a temporary folder and its telemetry off; leaving ``label_studio`` kills its process group.
The SDK side (``labelstudio_client.py``) runs with that venv's own Python.
"""

from __future__ import annotations

import argparse
import contextlib
import http.cookiejar
import http.server
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
LABEL_STUDIO = Path(
    os.environ.get("CLAUSETAG_LABEL_STUDIO") or REPO / ".venv-labelstudio" / "bin" / "label-studio"
)
CLIENT = HERE / "labelstudio_client.py"
#: The server answers /health after about a minute on two busy cores; give it five.
STARTUP_SECONDS = 300
CLIENT_SECONDS = 300
USERNAME = "annotator@example.com"


class Server(NamedTuple):
    url: str
    token: str
    password: str
    startup_seconds: float
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as r:
            return r.status == 200 and b"UP" in r.read()
    except OSError:
        return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    """The whole process group: SIGTERM, then SIGKILL if it lingers."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def label_studio(folder: Path, binary: Path = LABEL_STUDIO) -> Iterator[Server]:
    """A Label Studio server on 127.0.0.1 with one user and a legacy API token, bounded in time.

    Raises RuntimeError (with the log's tail) when it does not answer within ``STARTUP_SECONDS``.
    """
    port, token, password = _free_port(), secrets.token_hex(20), secrets.token_hex(12)
    url = f"http://127.0.0.1:{port}"
    data, home, log_path = folder / "data", folder / "home", folder / "server.log"
    data.mkdir(parents=True)
    home.mkdir()
    env = {
        **os.environ,
        "HOME": str(home),
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "SENTRY_DSN": "",  # no error reports to a third party
        "FRONTEND_SENTRY_DSN": "",
        "COLLECT_ANALYTICS": "false",
        "LATEST_VERSION_CHECK": "false",
        "PYTHONUNBUFFERED": "1",
    }
    command = [
        str(binary), "start", "--no-browser", "--internal-host", "127.0.0.1", "--host", url,
        "--port", str(port), "--data-dir", str(data), "--username", USERNAME, "--password", password,
        "--user-token", token, "--enable-legacy-api-token",
    ]  # fmt: skip
    started = time.perf_counter()
    with log_path.open("wb") as log:
        server = subprocess.Popen(
            command,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            while not _healthy(url):
                if server.poll() is not None or time.perf_counter() - started > STARTUP_SECONDS:
                    tail = log_path.read_text(errors="replace")[-3000:]
                    raise RuntimeError(f"Label Studio did not start (exit {server.poll()}):\n{tail}")
                time.sleep(1)
            yield Server(url, token, password, time.perf_counter() - started, log_path)
        finally:
            _stop(server)


def run_client(server: Server, workdir: Path, binary: Path = LABEL_STUDIO) -> dict:
    """``labelstudio_client.py`` on ``workdir`` with Label Studio's Python; its ``summary.json``."""
    python = binary.parent / "python"
    done = subprocess.run(
        [str(python), str(CLIENT), server.url, server.token, str(workdir)],
        capture_output=True,
        text=True,
        timeout=CLIENT_SECONDS,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the Label Studio client failed:\n{done.stderr[-3000:]}")
    return json.loads((workdir / "summary.json").read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- the screenshot


def _session_cookies(server: Server) -> list[tuple[str, str]]:
    """Log in through the login form; the session's cookies."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    form = opener.open(f"{server.url}/user/login/", timeout=30).read().decode()
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form)
    if match is None:
        raise RuntimeError("no CSRF token on the login page")
    fields = {"csrfmiddlewaretoken": match.group(1), "email": USERNAME, "password": server.password}
    body = urllib.parse.urlencode(fields).encode()
    login = urllib.request.Request(f"{server.url}/user/login/", data=body, headers={"Referer": server.url})
    opener.open(login, timeout=30)
    return [(c.name, str(c.value)) for c in jar]


def screenshot(server: Server, path: str, out: Path, browser: str, seconds: int = 30) -> None:
    """A headless-browser screenshot of ``path`` on the server, logged in.

    A one-shot page on another port of 127.0.0.1 sets the session cookies (cookies are per host,
    not per port) and redirects to the server, so the browser arrives logged in.
    """
    cookies = _session_cookies(server)

    class SetCookies(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            for name, value in cookies:
                self.send_header("Set-Cookie", f"{name}={value}; Path=/")
            self.send_header("Location", server.url + self.path)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    stub = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SetCookies)
    threading.Thread(target=stub.serve_forever, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="clausetag-browser-") as profile:
        command = [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--window-size=1400,1000",
            f"--virtual-time-budget={seconds * 1000}", f"--screenshot={out.resolve()}",
            f"http://127.0.0.1:{stub.server_address[1]}{path}",
        ]  # fmt: skip
        shot = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            shot.wait(seconds * 4)
        except subprocess.TimeoutExpired:
            raise RuntimeError("the browser did not finish the screenshot") from None
        finally:
            _stop(shot)
            stub.shutdown()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "batch", type=Path, help="a folder `clausetag annotate export --format labelstudio` wrote"
    )
    parser.add_argument("--screenshot", type=Path, required=True, help="PNG of the first task")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    from report_browser import find_browser

    browser = find_browser()
    if browser is None or not LABEL_STUDIO.is_file():
        print("needs a headless browser and `make labelstudio`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="clausetag-ls-") as tmp:
        work = Path(tmp) / "batch"
        shutil.copytree(args.batch, work)
        (work / "corrections.json").unlink(missing_ok=True)  # the task as the annotator first sees it
        with label_studio(Path(tmp) / "server") as server:
            summary = run_client(server, work)
            first = json.loads((work / "tasks.json").read_text(encoding="utf-8"))[0]["data"]["id"]
            task = summary["task_ids"][first]
            args.screenshot.parent.mkdir(parents=True, exist_ok=True)
            screenshot(
                server,
                f"/projects/{summary['project']}/data?tab=1&labeling=1&task={task}",
                args.screenshot,
                browser,
            )
    print(f"wrote {args.screenshot} (Label Studio answered after {server.startup_seconds:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
