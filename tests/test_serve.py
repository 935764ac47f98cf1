"""``clausetag serve`` over real HTTP: one server (a subprocess on a free 127.0.0.1 port) for the module.

The answers are compared with in-process ``ClauseClassifier`` calls on the same texts; bad
requests (malformed JSON, wrong types, huge and chunked bodies, thousands of inputs, slow
clients) must each get one JSON error with a 4xx status. The engine's queue, timeout and
micro-batching are tested in process with a stand-in classifier, where timing is exact.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import REPO, SEEDS

from clausetag.cli import main as cli
from clausetag.inference.classifier import ClauseClassifier, Prediction
from clausetag.inference.report import ART13_ITEMS
from clausetag.inference.service.engine import Engine
from clausetag.inference.service.limits import ServiceError

spec = importlib.util.spec_from_file_location("serve_bench", REPO / "benchmarks" / "serve.py")
assert spec is not None and spec.loader is not None
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # its dataclasses look their module up
spec.loader.exec_module(bench)

MAX_BODY = 200_000
MAX_UNITS = 400
READ_TIMEOUT = 2

POLICY = (
    "# Privacy policy\n\n"
    "SIA Example is the controller of your personal data; write to privacy@example.lv.\n\n"
    "## Retention\n\n"
    "We keep invoices for five years, as the Accounting Law requires.\n"
    "You may complain to the Data State Inspectorate. <script>alert(1)</script>\n"
)


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[Any]:
    options = [
        f"--max-body-bytes={MAX_BODY}",
        f"--max-units={MAX_UNITS}",
        f"--read-timeout={READ_TIMEOUT}",
        "--timeout=60",
        "--max-queue=8",
    ]
    with bench.running_server(tiny_model, *options) as running:
        yield running


@pytest.fixture(scope="module")
def clf(tiny_model: Path) -> ClauseClassifier:
    return ClauseClassifier.from_pretrained(tiny_model)


def seed_text() -> str:
    seeds = sorted(SEEDS.glob("*.txt"))
    return seeds[0].read_text(encoding="utf-8") if seeds else POLICY * 20


def post(server: Any, path: str, body: Any, **headers: str) -> Any:
    return bench.call(server, "POST", path, body, headers=headers)


def error_of(answer: Any, status: int, error_type: str | None = None) -> str:
    """The answer is one JSON error with this status (and type); its message."""
    assert answer.status == status, answer.body[:500]
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"error", "error_type"}, body
    assert "Traceback" not in body["error"] and 'File "' not in body["error"]
    if error_type is not None:
        assert body["error_type"] == error_type, body
    return str(body["error"])


# --------------------------------------------------------------------------- the service


def test_health_info_and_schema(server: Any, clf: ClauseClassifier) -> None:
    assert bench.call(server, "GET", "/health").json()["status"] == "ok"
    info = bench.call(server, "GET", "/v1/info").json()
    assert info["labels"] == clf.labels
    assert list(info["thresholds"]) == clf.labels
    assert info["backend"] == "torch" and info["version"]
    assert info["limits"]["max_units"] == MAX_UNITS and info["limits"]["max_body_bytes"] == MAX_BODY
    assert [i["key"] for i in info["art13"]] == [i.key for i in ART13_ITEMS]
    schema = bench.call(server, "GET", "/openapi.json").json()
    assert {"/v1/tag", "/v1/documents", "/v1/report", "/v1/info", "/health"} <= set(schema["paths"])
    assert "multipart/form-data" in schema["paths"]["/v1/documents"]["post"]["requestBody"]["content"]
    error_of(bench.call(server, "GET", "/docs"), 404, "NotFound")  # no Swagger UI: it needs a CDN


def test_tag_matches_in_process_predict(server: Any, clf: ClauseClassifier) -> None:
    texts = ["We keep invoices for five years.", "Jūs varat iesniegt sūdzību Datu valsts inspekcijā."]
    want = clf.predict(texts)
    one = post(server, "/v1/tag", {"inputs": texts[0]}).json()
    assert one == [{"label": name, "score": want[0].scores[name]} for name in want[0].labels]
    both = post(server, "/v1/tag", {"inputs": texts, "lang": "en"}).json()
    assert [[x["label"] for x in row] for row in both] == [p.labels for p in want]
    raw = post(server, "/v1/tag", {"inputs": texts, "raw_scores": True}).json()
    for row, p in zip(raw, want, strict=True):
        assert sorted(x["label"] for x in row) == sorted(clf.labels)
        assert [x["score"] for x in row] == sorted((x["score"] for x in row), reverse=True)
        assert {x["label"]: x["score"] for x in row} == p.scores
        assert [x["label"] for x in row if x["selected"]] == [
            n for n in (x["label"] for x in row) if n in p.labels
        ]
    assert post(server, "/v1/tag", {"inputs": []}).json() == []


def test_tag_takes_contexts(server: Any, clf: ClauseClassifier) -> None:
    texts = ["Five years.", "Write to us."]
    contexts = ["How long do we keep data?", {"section": ["Contact"], "previous": "Questions?"}]
    answer = post(server, "/v1/tag", {"inputs": texts, "contexts": contexts, "raw_scores": True}).json()
    want = clf.predict(texts, contexts=contexts)
    assert [{x["label"]: x["score"] for x in row} for row in answer] == [p.scores for p in want]
    message = error_of(post(server, "/v1/tag", {"inputs": texts, "contexts": ["one"]}), 422, "Validation")
    assert "1 given for 2 inputs" in message
    odd = {"inputs": ["x"], "contexts": [{"chapter": "2"}]}
    assert "contexts[0]: unknown context field" in error_of(post(server, "/v1/tag", odd), 422)


def test_documents_match_tag_document(server: Any, clf: ClauseClassifier) -> None:
    text = seed_text()
    answer = post(server, "/v1/documents", {"text": text, "lang": "en", "return_text": True}).json()
    want = clf.tag_document(text, lang="en")
    assert answer["text"] == text and answer["lang"] == "en" and answer["labels"] == clf.labels
    assert len(answer["units"]) == len(want)
    for got, unit in zip(answer["units"], want, strict=True):
        assert got["text"] == text[got["start"] : got["end"]] == unit.text
        assert (got["index"], got["kind"], got["section"]) == (unit.index, unit.kind, unit.section)
        assert got["labels"] == unit.labels and got["scores"] == unit.scores
    assert "report" not in answer


def test_documents_read_markdown_html_uploads_and_raw_bodies(server: Any) -> None:
    html = (
        "<html><body><h1>Privacy policy</h1><p>We keep invoices for five years.</p>"
        "<script>alert(1)</script><p>You may complain to the Data State Inspectorate.</p></body></html>"
    )
    from_json = post(server, "/v1/documents", {"text": html, "format": "html"}).json()
    texts = [u["text"] for u in from_json["units"]]
    assert "We keep invoices for five years." in texts and not any("<" in t for t in texts)
    assert not any("alert" in t for t in texts)  # a script's text is no policy text

    boundary = "clausetagboundary"
    upload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="acme.html"\r\n'
        f"Content-Type: text/html\r\n\r\n{html}\r\n"
        f'--{boundary}\r\nContent-Disposition: form-data; name="report"\r\n\r\ntrue\r\n--{boundary}--\r\n'
    ).encode()
    uploaded = post(
        server, "/v1/documents", upload, **{"Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert uploaded.status == 200, uploaded.body
    body = uploaded.json()
    assert body["doc"] == "acme" and body["units"] == from_json["units"]
    assert len(body["report"]["items"]) == len(ART13_ITEMS)

    md = "# Policy\n\n- We keep invoices for **five years**.\n- Write to [us](mailto:a@example.lv).\n"
    raw = post(server, "/v1/documents?lang=en&doc=notes", md.encode(), **{"Content-Type": "text/markdown"})
    assert raw.status == 200, raw.body
    units = raw.json()["units"]
    assert raw.json()["doc"] == "notes"
    assert [u["kind"] for u in units][:2] == ["heading", "list-item"]
    assert units[1]["text"] == "We keep invoices for five years."


def test_report_json_and_html(server: Any) -> None:
    report = post(server, "/v1/report", {"text": POLICY, "doc": "acme", "top": 2}).json()
    assert report["doc"] == "acme" and len(report["items"]) == len(ART13_ITEMS)
    assert set(report["summary"]) == {"present", "missing", "not_covered", "total"}
    assert all(len(item["evidence"]) <= 2 for item in report["items"])
    page = post(server, "/v1/report", {"text": POLICY, "doc": "acme"}, Accept="text/html")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src" not in page.headers["content-security-policy"]  # no script may run at all
    html = page.body.decode()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert post(server, "/v1/report", {"text": POLICY}, Accept="application/json").json()["items"]


def test_page_and_its_assets(server: Any) -> None:
    page = bench.call(server, "GET", "/")
    assert page.status == 200 and page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "connect-src 'self'" in csp
    assert b"/static/page.js" in page.body and b"http" not in page.body.replace(b"http-equiv", b"")
    for name in ("page.js", "page.css"):
        asset = bench.call(server, "GET", f"/static/{name}")
        assert asset.status == 200 and b"https://" not in asset.body  # offline: nothing from elsewhere
    error_of(bench.call(server, "GET", "/static/../server.py"), 404)


def test_no_cors_unless_asked(server: Any) -> None:
    answer = bench.call(server, "GET", "/v1/info", headers={"Origin": "https://elsewhere.example"})
    assert "access-control-allow-origin" not in answer.headers
    preflight = bench.call(
        server,
        "OPTIONS",
        "/v1/tag",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers and preflight.status >= 400


# --------------------------------------------------------------------------- bad requests

BAD_JSON = [
    (b'{"inputs": "x",', 400, "MalformedJSON", "not valid JSON"),
    (b"", 400, "MalformedJSON", "not valid JSON"),
    (b"[1, 2]", 422, "Validation", "JSON object"),
    (b'{"inputs": 5}', 422, "Validation", "inputs: expected a string or a list of strings, got a number"),
    (b'{"inputs": ["a", 7]}', 422, "Validation", "inputs[1]"),
    (b'{"input": "x"}', 422, "Validation", "did you mean 'inputs'"),
    (b'{"inputs": "x", "lang": "de"}', 422, "Validation", "lang"),
    (b'{"inputs": "x", "raw_scores": "yes"}', 422, "Validation", "raw_scores"),
    (b'{"inputs": ["fine", "  \\u200b "]}', 422, "Validation", "empty"),
    (b'{"inputs": "a\\u0000b"}', 422, "Validation", "NUL"),
    (b'{"inputs": "\\ud800"}', None, None, None),  # a lone surrogate: refused, never a 500
]


@pytest.mark.parametrize(("body", "status", "kind", "words"), BAD_JSON)
def test_bad_tag_bodies(
    server: Any, body: bytes, status: int | None, kind: str | None, words: str | None
) -> None:
    answer = post(server, "/v1/tag", body, **{"Content-Type": "application/json"})
    message = error_of(answer, status or answer.status, kind)
    assert 400 <= answer.status < 500
    if words:
        assert words in message


def test_bad_policy_requests(server: Any) -> None:
    json_type = {"Content-Type": "application/json"}
    error_of(post(server, "/v1/documents", {"text": " \n "}), 422, "Validation")
    error_of(post(server, "/v1/documents", {"text": "x", "format": "pdf"}), 422, "Validation")
    error_of(post(server, "/v1/documents", {"text": "x", "top": 0}), 422, "Validation")
    error_of(
        post(server, "/v1/report", {"text": "x", "report": True}), 422, "Validation"
    )  # not a report field
    error_of(post(server, "/v1/documents", b"\x00\x01binary", **{"Content-Type": "text/plain"}), 422)
    error_of(post(server, "/v1/documents", {"text": "<p></p>", "format": "html"}), 422, "Validation")
    error_of(post(server, "/v1/documents", b"plain", **{"Content-Type": "application/pdf"}), 415)
    error_of(
        post(server, "/v1/tag", b"inputs=x", **{"Content-Type": "application/x-www-form-urlencoded"}), 415
    )
    error_of(post(server, "/v1/documents?unknown=1", b"x", **{"Content-Type": "text/plain"}), 422)
    boundary = "b0"
    jsonl = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="units.jsonl"\r\n\r\n'
        f'{{"text": "x"}}\r\n--{boundary}--\r\n'
    ).encode()
    multipart = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    assert "JSONL" in error_of(post(server, "/v1/documents", jsonl, **multipart), 422)
    no_file = f'--{boundary}\r\nContent-Disposition: form-data; name="lang"\r\n\r\nen\r\n--{boundary}--\r\n'
    assert "'file'" in error_of(post(server, "/v1/documents", no_file.encode(), **multipart), 422)
    error_of(post(server, "/v1/documents", b"--b0\r\ngarbage", **multipart), 422)
    error_of(bench.call(server, "GET", "/v1/nothing"), 404, "NotFound")
    error_of(bench.call(server, "GET", "/v1/tag"), 405, "MethodNotAllowed")
    error_of(post(server, "/health", b"{}", **json_type), 405)


def test_size_limits(server: Any) -> None:
    huge = json.dumps({"inputs": "word " * (MAX_BODY // 4)}).encode()
    assert "--max-body-bytes" in error_of(
        post(server, "/v1/tag", huge, **{"Content-Type": "application/json"}), 413
    )
    thousands = {"inputs": [f"Unit number {i}." for i in range(5000)]}
    assert "5000 units" in error_of(post(server, "/v1/tag", thousands), 413, "PayloadTooLarge")
    long_policy = "\n".join(f"Sentence {i} of a long policy." for i in range(MAX_UNITS + 1))
    assert f"{MAX_UNITS + 1} units" in error_of(post(server, "/v1/documents", {"text": long_policy}), 413)
    assert bench.call(server, "GET", "/health").status == 200


def _raw(server: Any, data: bytes, wait: float) -> bytes:
    """Send raw bytes on a fresh connection; everything the server sends within ``wait`` seconds."""
    with socket.create_connection((server.host, server.port), timeout=wait) as sock:
        sock.sendall(data)
        got = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                return got + b"<closed>"
            got += chunk
        return got


def test_chunked_body_over_the_cap(server: Any) -> None:
    chunk = b"x" * 65536
    body = (
        b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(MAX_BODY // len(chunk) + 2))
        + b"0\r\n\r\n"
    )
    head = b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    got = _raw(server, head + b"Transfer-Encoding: chunked\r\n\r\n" + body, 10)
    assert got.startswith(b"HTTP/1.1 413"), got[:200]


def test_slow_clients_are_cut_off(server: Any) -> None:
    started = time.monotonic()
    head = b"POST /v1/tag HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    head += b"Content-Length: 100\r\n\r\n"
    got = _raw(server, head + b'{"inputs"', READ_TIMEOUT + 6)  # then nothing more
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b'"error_type":"RequestTimeout"' in got
    stalled = _raw(server, b"POST /v1/tag HTTP/1.1\r\nHost: 127.", READ_TIMEOUT + 6)  # headers never end
    assert stalled.endswith(b"<closed>"), stalled[:200]
    assert time.monotonic() - started < 2 * (READ_TIMEOUT + 6)
    assert bench.call(server, "GET", "/health").status == 200


def test_concurrent_requests_queue_and_answer(server: Any, clf: ClauseClassifier) -> None:
    """24 clients at once: each gets its own texts' answer, or a clean 429 when the queue is full."""
    texts = [f"We keep record {i} for {i % 7 + 1} years." for i in range(24)]
    want = {t: p.labels for t, p in zip(texts, clf.predict(texts), strict=True)}
    answers: dict[str, Any] = {}

    def client(text: str) -> None:
        answers[text] = post(server, "/v1/tag", {"inputs": [text, text]})

    threads = [threading.Thread(target=client, args=(t,)) for t in texts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == len(texts)
    for text, answer in answers.items():
        if answer.status == 429:
            assert answer.headers["retry-after"] == "1"
            error_of(answer, 429, "Overloaded")
            continue
        assert answer.status == 200, answer.body
        assert [[x["label"] for x in row] for row in answer.json()] == [want[text]] * 2
    assert sum(a.status == 200 for a in answers.values()) >= 8  # at least the queue's worth


# --------------------------------------------------------------------------- the CLI


def test_serve_refuses_a_missing_model_and_a_busy_port(
    tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli(["serve", "--model", "no/such/model", "--port", "0"]) == 2
    assert "model directory not found" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        assert cli(["serve", "--model", str(tiny_model), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


# --------------------------------------------------------------------------- the engine, in process


class SlowClassifier:
    """Stands in for ``ClauseClassifier``: records each ``predict`` call, waits on a gate."""

    backend_name = "torch"

    def __init__(self) -> None:
        self.calls: list[list[str]] = []
        self.gate = threading.Event()

    def predict(self, texts: list[str], batch_size: int = 32, contexts: Any = None) -> list[Prediction]:
        self.gate.wait(10)
        self.calls.append(list(texts))
        return [Prediction(t, ["x"], {"x": 1.0}) for t in texts]


def taken(engine: Engine) -> None:
    """Until the worker has taken every queued job (so the next ones queue behind it)."""
    deadline = time.monotonic() + 5
    while engine.queued and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.05)


def test_engine_merges_queued_tag_jobs_and_bounds_its_queue() -> None:
    clf = SlowClassifier()
    engine = Engine(clf, max_queue=3, max_batch_units=4)  # type: ignore[arg-type]
    try:
        first = engine.tag(["a"])
        taken(engine)  # the worker holds "a" at the gate
        queued = [engine.tag(["b", "c"]), engine.tag(["d", "e"]), engine.tag(["f"])]
        with pytest.raises(ServiceError) as refused:
            engine.tag(["g"])
        assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
        clf.gate.set()
        assert [p.text for p in first.result(5)] == ["a"]
        assert [[p.text for p in f.result(5)] for f in queued] == [["b", "c"], ["d", "e"], ["f"]]
        assert clf.calls == [["a"], ["b", "c", "d", "e"], ["f"]]  # merged up to max_batch_units
        assert engine.stats.merged_jobs == 1 and engine.stats.refused == 1
    finally:
        clf.gate.set()
        engine.close()


def test_engine_timeout_drops_a_job_still_queued() -> None:
    from clausetag.inference.service.app import _wait

    clf = SlowClassifier()
    engine = Engine(clf)  # type: ignore[arg-type]
    try:
        busy = engine.tag(["running"])
        taken(engine)
        waiting = engine.tag(["waiting"])
        with pytest.raises(ServiceError) as late:
            asyncio.run(_wait(waiting, 0.05))
        assert late.value.status == 504 and "--timeout" in late.value.message
        clf.gate.set()
        busy.result(5)
        engine.close()
        assert waiting.cancelled() and engine.stats.dropped == 1
        assert clf.calls == [["running"]]  # the timed-out job never ran
    finally:
        clf.gate.set()
        engine.close()


def test_engine_keeps_going_after_a_failing_job() -> None:
    class Broken(SlowClassifier):
        def predict(self, texts: list[str], batch_size: int = 32, contexts: Any = None) -> list[Prediction]:
            if "boom" in texts:
                raise RuntimeError("boom")
            return super().predict(texts, batch_size, contexts)

    clf = Broken()
    clf.gate.set()
    engine = Engine(clf)  # type: ignore[arg-type]
    try:
        with pytest.raises(RuntimeError):
            engine.tag(["boom"]).result(5)
        assert [p.text for p in engine.tag(["fine"]).result(5)] == ["fine"]
        assert engine.call(lambda: 42).result(5) == 42
    finally:
        engine.close()


def test_cors_only_for_the_origins_given(clf: ClauseClassifier) -> None:
    """``--cors-origin`` (create_app's cors_origins): those origins get CORS headers, no other."""
    from clausetag.inference.service.app import create_app
    from clausetag.inference.service.limits import Limits

    engine = Engine(clf)
    app = create_app(engine, Limits(), model="tiny", cors_origins=["http://allowed.example"])

    async def ask(origin: str) -> dict[bytes, bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/health",
            "raw_path": b"/health",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"127.0.0.1"), (b"origin", origin.encode())],
            "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000),
        }
        await app(scope, receive, send)
        start = next(m for m in sent if m["type"] == "http.response.start")
        assert start["status"] == 200
        return dict(start["headers"])

    try:
        assert (
            asyncio.run(ask("http://allowed.example"))[b"access-control-allow-origin"]
            == b"http://allowed.example"
        )
        assert b"access-control-allow-origin" not in asyncio.run(ask("http://other.example"))
    finally:
        engine.close()
