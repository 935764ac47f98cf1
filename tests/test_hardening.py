"""Issue 22, hardening second pass: model folders are untrusted, resumes never mix, outputs stay private.

One section per case of the issue. Model runs reuse the session's tiny model
(``conftest.py``); everything that can be checked without a model (terminal
neutralising, resume fingerprints, torn records) is property-based.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from clausetag.cli import main as cli
from clausetag.errors import ClausetagError

PROPERTY = settings(max_examples=60, deadline=2000, suppress_health_check=[HealthCheck.too_slow])
POLICY = "We keep invoices for 5 years. You may object at any time."


def _policy(tmp: Path, name: str = "p.txt", text: str = POLICY) -> Path:
    path = tmp / name
    path.write_text(text, encoding="utf-8")
    return path


def _model_copy(tiny_model: Path, tmp: Path) -> Path:
    model = tmp / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    return model


def _edit_json(path: Path, **changes: Any) -> None:
    obj = json.loads(path.read_text(encoding="utf-8"))
    obj.update(changes)
    path.write_text(json.dumps(obj), encoding="utf-8")


def _one_error(capsys: pytest.CaptureFixture[str], expected: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def _units(path: Path, n: int) -> Path:
    rows = [{"doc": f"d{i // 7}", "text": f"We keep record {i} for {i % 9 + 1} years."} for i in range(n)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- 1. no model code ever runs


def _with_custom_code(model: Path, marker: Path, where: str = "config.json") -> None:
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
    _edit_json(model / where, auto_map={"AutoConfig": "evil.Config", "AutoTokenizer": ["evil.Tok", None]})


@pytest.mark.parametrize("where", ["config.json", "tokenizer_config.json"])
@pytest.mark.parametrize("backend", ["torch", "onnx"])
def test_a_model_folder_with_auto_map_is_refused_before_transformers(
    where: str, backend: str, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model, marker = _model_copy(tiny_model, tmp_path), tmp_path / "PWNED"
    _with_custom_code(model, marker, where)
    code = cli(["predict", "--model", str(model), str(_policy(tmp_path)), "--backend", backend])
    assert code == 2
    out = capsys.readouterr()
    assert f"{where}: has 'auto_map'" in out.err and "never runs a model's code" in out.err
    assert out.out == "" and "[y/N]" not in out.err and not marker.exists()


def test_an_unknown_model_type_is_refused_and_train_checks_its_encoder(
    tiny_model: Path, tiny_encoder: Path, tmp_path: Path
) -> None:
    from clausetag.inference import ClauseClassifier
    from clausetag.training.args import ModelArguments
    from clausetag.training.pretrained import load_pretrained

    model = _model_copy(tiny_model, tmp_path)
    _edit_json(model / "config.json", model_type="evil-bert")
    with pytest.raises(ClausetagError, match="model_type 'evil-bert' is not one transformers knows"):
        ClauseClassifier.from_pretrained(model)
    encoder = tmp_path / "encoder"
    shutil.copytree(tiny_encoder, encoder)
    _with_custom_code(encoder, tmp_path / "PWNED")
    with pytest.raises(ClausetagError, match=r"config\.json: has 'auto_map'"):
        load_pretrained(ModelArguments(model_name_or_path=str(encoder)), ["a", "b"])
    assert not (tmp_path / "PWNED").exists()


COMMANDS_THAT_LOAD = {
    "evaluate": lambda m, t: ["evaluate", "--model", m, "--data", str(_units(t / "u.jsonl", 3))],
    "export-onnx": lambda m, t: ["export-onnx", "--model", m],
    "predict --engine ray": lambda m, t: [
        "predict",
        "--model",
        m,
        "--engine",
        "ray",
        "-o",
        str(t / "r"),
        "p",
    ],
    "distill": lambda m, t: ["distill", "--teacher", m, "-o", str(t / "student")],
}


@pytest.mark.parametrize(
    ("command", "evil"),
    [(c, "auto_map") for c in COMMANDS_THAT_LOAD]
    + [(c, "model_type") for c in ("evaluate", "export-onnx", "distill")],  # those give it to transformers
)
def test_every_command_refuses_a_model_folder_with_code(
    command: str, evil: str, tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """evaluate, export-onnx, the Ray driver and distill's teacher load through the same checks."""
    model, marker = _model_copy(tiny_model, tmp_path), tmp_path / "PWNED"
    if evil == "auto_map":
        _with_custom_code(model, marker)
        expected = "config.json: has 'auto_map'"
    else:
        (model / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n", encoding="utf-8")
        _edit_json(model / "config.json", model_type="evil-bert")
        expected = "model_type 'evil-bert' is not one transformers knows"
    code = cli(COMMANDS_THAT_LOAD[command](str(model), tmp_path))
    out = capsys.readouterr()
    assert code == 2 and expected in out.err and "Traceback" not in out.err, out.err
    assert "[y/N]" not in out.out + out.err and not marker.exists()


def test_every_transformers_loader_gets_trust_remote_code_false(tiny_encoder: Path) -> None:
    from clausetag.inference.safeload import pretrained

    calls: list[dict[str, Any]] = []

    class Loader:
        @staticmethod
        def from_pretrained(name: Any, **kwargs: Any) -> str:
            calls.append(kwargs)
            return "loaded"

    assert pretrained(Loader, tiny_encoder, use_safetensors=True) == "loaded"
    assert pretrained(Loader, "some-org/hub-model") == "loaded"  # a hub id: transformers refuses code
    assert all(c["trust_remote_code"] is False for c in calls) and calls[0]["use_safetensors"]


# ----------------------------------------------------------------- 1b. model files: kinds, sizes, parts


def _fifo(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _link(target: str) -> Any:
    def make(path: Path) -> None:
        path.unlink()
        path.symlink_to(target)

    return make


MODEL_FILE_CASES: dict[str, tuple[str, Any, str]] = {
    "thresholds.json → /dev/zero": ("thresholds.json", _link("/dev/zero"), "is a character device"),
    "config.json → /dev/zero": ("config.json", _link("/dev/zero"), "is a character device"),
    "ngram/config.json → /dev/urandom": ("ngram/config.json", _link("/dev/urandom"), "is a character device"),
    "tokenizer.json a FIFO": ("tokenizer.json", _fifo, "tokenizer.json: is a FIFO"),
    "model.safetensors a FIFO": ("model.safetensors", _fifo, "model.safetensors: is a FIFO"),
}


@pytest.mark.parametrize("case", list(MODEL_FILE_CASES))
def test_special_files_in_a_model_folder_are_refused_at_once(
    case: str, tiny_model: Path, tmp_path: Path
) -> None:
    from clausetag.inference import ClauseClassifier

    name, make, expected = MODEL_FILE_CASES[case]
    model = _model_copy(tiny_model, tmp_path)
    if not (model / name).exists():
        pytest.skip(f"the tiny model has no {name}")
    make(model / name)
    started = time.perf_counter()
    with pytest.raises(ClausetagError, match=expected):
        ClauseClassifier.from_pretrained(model)
    assert time.perf_counter() - started < 30  # a FIFO used to hang, /dev/zero to fill 7 GB


def test_an_oversized_model_file_is_refused_before_reading(tiny_model: Path, tmp_path: Path) -> None:
    from clausetag.inference import ClauseClassifier
    from clausetag.inference.safeload import MODEL_FILE_MAX_BYTES

    model = _model_copy(tiny_model, tmp_path)
    with (model / "training_args.json").open("r+b") as fh:
        fh.truncate(MODEL_FILE_MAX_BYTES + 1)  # sparse: nothing is written
    with pytest.raises(ClausetagError, match=r"training_args\.json: .* is larger than"):
        ClauseClassifier.from_pretrained(model)


def test_a_full_vocabulary_tokenizer_in_a_trimmed_folder_fails_at_load(
    tiny_model: Path, tmp_path: Path
) -> None:
    from clausetag.inference import ClauseClassifier

    model = _model_copy(tiny_model, tmp_path)
    spec = json.loads((model / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    rows = json.loads((model / "config.json").read_text())["vocab_size"]
    extra = [f"extra{i}" for i in range(rows)]
    if isinstance(vocab, dict):
        vocab.update({piece: len(vocab) + i for i, piece in enumerate(extra)})
    else:
        vocab += [[piece, -20.0] for piece in extra]
    (model / "tokenizer.json").write_text(json.dumps(spec), encoding="utf-8")
    with pytest.raises(
        ClausetagError,
        match=rf"tokenizer.json has \d+ pieces but the model's word embeddings have {rows} rows",
    ):
        ClauseClassifier.from_pretrained(model)


def test_max_length_is_checked_against_the_weights_too(tiny_model: Path, tmp_path: Path) -> None:
    """config.json may claim more positions than model.safetensors has: the smaller counts."""
    from clausetag.inference import ClauseClassifier

    model = _model_copy(tiny_model, tmp_path)
    real = json.loads((model / "config.json").read_text())["max_position_embeddings"]
    _edit_json(model / "config.json", max_position_embeddings=100_000)
    _edit_json(model / "thresholds.json", max_length=real + 1)
    with pytest.raises(
        ClausetagError, match=f"max_length {real + 1} in thresholds.json is more than the model's {real}"
    ):
        ClauseClassifier.from_pretrained(model)


@pytest.mark.parametrize("rng", [[1, 10_000], [5, 2], [0, 3]])
def test_unbounded_ngram_ranges_are_refused(rng: list[int], tiny_model: Path, tmp_path: Path) -> None:
    from clausetag.inference.ngram import MAX_NGRAM, NgramMember

    model = _model_copy(tiny_model, tmp_path)
    path = model / "ngram" / "config.json"
    if not path.exists():
        pytest.skip("the tiny model has no n-gram member")
    config = json.loads(path.read_text(encoding="utf-8"))
    config["analyzers"][0]["ngram_range"] = rng
    path.write_text(json.dumps(config), encoding="utf-8")
    labels = json.loads((model / "config.json").read_text())["id2label"]
    with pytest.raises(ClausetagError, match="ngram_range"):
        NgramMember.load(model, [labels[str(i)] for i in range(len(labels))])
    assert MAX_NGRAM <= 10


def test_a_file_given_as_model_is_named_as_such(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from clausetag.inference import ClauseClassifier

    config = tiny_model / "config.json"
    assert cli(["predict", "--model", str(config), str(_policy(tmp_path))]) == 2
    _one_error(capsys, "config.json: is a file, not a model directory")
    with pytest.raises(ClausetagError, match="is a file, not a model directory"):
        ClauseClassifier.from_pretrained(config)


# --------------------------------------------------------------------------- 2. outputs keep their mode


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o604])
def test_an_existing_output_keeps_its_mode(mode: int, tiny_model: Path, tmp_path: Path) -> None:
    policy = _policy(tmp_path)
    for name, extra in (("o.jsonl", []), ("r.jsonl", ["--resume"]), ("c.csv", ["--resume"])):
        out = tmp_path / name
        assert cli(["predict", "--model", str(tiny_model), "-q", str(policy), "-o", str(out), *extra]) == 0
        out.chmod(mode)
        if extra:  # a torn last record makes the resumed run rewrite the file
            out.write_bytes(out.read_bytes()[:-5])
        assert cli(["predict", "--model", str(tiny_model), "-q", str(policy), "-o", str(out), *extra]) == 0
        assert stat.S_IMODE(out.stat().st_mode) == mode, name
    report = tmp_path / "r.html"
    report.write_text("old")
    report.chmod(mode)
    assert cli(["report", "--model", str(tiny_model), "-q", str(policy), "-o", str(report)]) == 0
    assert stat.S_IMODE(report.stat().st_mode) == mode


@PROPERTY
@given(st.integers(0, 0o777))
def test_atomic_writer_keeps_any_mode(mode: int) -> None:
    import tempfile

    from clausetag.io import atomic_writer

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        out.write_text("old")
        out.chmod(mode)
        with atomic_writer(out) as fh:
            fh.write("new")
        assert stat.S_IMODE(out.stat().st_mode) == mode and out.read_text() == "new"


# --------------------------------------------------------------------------- 3. terminal escapes


#: Characters that steer a terminal: C0 (but tab and newline), DEL, C1, bidi controls.
UNSAFE = {chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]} | set(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u2028\u2029"
)
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


@PROPERTY
@given(ANY_TEXT)
def test_printable_leaves_no_control_character(text: str) -> None:
    from clausetag.terminal import printable

    out = printable(text)
    assert not set(out) & UNSAFE
    assert not any(0xD800 <= ord(c) <= 0xDFFF for c in out)  # always encodable
    out.encode("utf-8")
    assert printable(out) == out  # what it writes is already safe


@PROPERTY
@given(
    st.text(st.characters(exclude_categories=("Cc", "Cs")).filter(lambda c: c not in UNSAFE), max_size=200)
)
def test_printable_keeps_ordinary_text(text: str) -> None:
    from clausetag.terminal import printable

    assert printable(text) == text


def test_error_messages_neutralise_escapes_in_file_names(tmp_path: Path, capsys) -> None:
    name = tmp_path / "x\x1b]8;;http://evil\x07y\u202e.txt"
    code = cli(["predict", "--model", str(tmp_path / "nope"), str(name)])
    err = capsys.readouterr().err
    assert code == 2 and "\x1b" not in err and "\x07" not in err and "\u202e" not in err
    assert "\\u001b]8;;http:/evil\\u0007" in err
    assert cli(["tag\x1b]0;owned\x07"]) == 2  # a mistyped command is echoed too
    err = capsys.readouterr().err
    assert "unknown command 'tag\\u001b]0;owned\\u0007'" in err and "\x1b" not in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_streams_neutralise_report_and_csv(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evil = "We keep data \x1b[2J\x1b]0;owned\x07 for 5 years.\u202e\x9b31m"
    policy = _policy(tmp_path, text=evil)
    for argv in (["report", str(policy)], ["predict", str(policy), "--format", "csv"]):
        screen = _Tty()
        monkeypatch.setattr(sys, "stdout", screen)
        assert cli([argv[0], "--model", str(tiny_model), "-q", *argv[1:]]) == 0
        shown = screen.getvalue()
        assert shown and not set(shown) & (UNSAFE - {"\r"}), argv[0]
    piped = io.StringIO()  # to a pipe or file the records stay byte-exact
    monkeypatch.setattr(sys, "stdout", piped)
    assert cli(["predict", "--model", str(tiny_model), "-q", str(policy), "--format", "csv"]) == 0
    assert "\x1b[2J" in piped.getvalue()


# --------------------------------------------------------------------------- 4. Markdown cannot inject


INJECTIONS = (
    "Cookies. ![x](http://track.example/p.png) [click](javascript:alert(1)) <https://x.example> *a* `b`"
)


def test_markdown_report_renders_no_image_and_no_link(tiny_model: Path, tmp_path: Path) -> None:
    markdown_it = pytest.importorskip("markdown_it")
    policy = _policy(tmp_path, text=INJECTIONS)
    out = tmp_path / "r.md"
    assert cli(["report", "--model", str(tiny_model), "-q", str(policy), "-o", str(out), "--top", "5"]) == 0
    md = out.read_text(encoding="utf-8")
    assert "track.example" in md  # the text is shown …
    import importlib.util

    presets = ["commonmark"] + (["gfm-like"] if importlib.util.find_spec("linkify_it") else [])
    for preset in presets:
        html = markdown_it.MarkdownIt(preset).render(md)
        # GFM's autolinks may link a bare http(s) address, never a javascript: one nor an image.
        assert "<img" not in html and 'href="javascript' not in html.lower()
        if preset == "commonmark":
            assert "<a " not in html
        assert "<em>a</em>" not in html  # … but never as markup


@pytest.mark.parametrize(
    ("markdown", "kept", "gone"),
    [
        ("[click](javascript:alert(1))", "click", "javascript"),
        ("[x](javascript:alert(document.cookie) 'title')", "x", "javascript"),
        ("[x](<javascript:a()>)", "x", "javascript"),
        ("See <javascript:alert(1)> here.", "See", "javascript"),
        ('<a href="javascript:x()">Contact</a> us', "Contact us", "javascript"),
        ("![pixel](http://track.example/p.png(1))", "pixel", "track.example"),
        ("Write to <mailto:dpo@example.lv> or <https://example.lv>.", "https://example.lv", "<"),
    ],
)
def test_markdown_input_drops_link_targets(markdown: str, kept: str, gone: str) -> None:
    from clausetag.inference.markup import strip_markdown

    text = strip_markdown(markdown)
    assert kept in text and gone not in text, text


# --------------------------------------------------------------------------- 5. resume: fingerprints


def _fingerprint(**changes: Any) -> dict[str, Any]:
    from clausetag.inference.resume import input_print, run_fingerprint

    base: dict[str, Any] = {
        "model": "m" * 64,
        "backend": "onnx-int8",
        "thresholds": [0.5, 0.25],
        "fmt": "jsonl",
        "lang": None,
        "batch_size": 32,
        "inputs": [input_print("a.txt", 10, [({"doc": "a", "unit": 0, "text": "x"}, None)])],
    }
    base.update(changes)
    return run_fingerprint(**base)


SETTING_CHANGES = st.one_of(
    st.builds(lambda m: {"model": m}, st.text("0123456789abcdef", min_size=64, max_size=64)),
    st.builds(lambda b: {"backend": b}, st.sampled_from(["torch", "onnx", "onnx-int8"])),
    st.builds(lambda t: {"thresholds": t}, st.lists(st.floats(0, 1), min_size=2, max_size=2)),
    st.builds(lambda f: {"fmt": f}, st.sampled_from(["jsonl", "csv", "parquet"])),
    st.builds(lambda x: {"lang": x}, st.sampled_from([None, "en", "lv"])),
    st.builds(lambda n: {"batch_size": n}, st.integers(1, 64)),
    st.builds(lambda s: {"inputs": [{"input": "a.txt", "size": s, "units": "u"}]}, st.integers(0, 99)),
)


@PROPERTY
@given(SETTING_CHANGES)
def test_resume_refuses_exactly_the_runs_that_differ(change: dict[str, Any]) -> None:
    from clausetag.inference.resume import check_same_run

    earlier, now = _fingerprint(), _fingerprint(**change)
    if earlier == now:
        check_same_run("out", earlier, now, "hint")
    else:
        with pytest.raises(ClausetagError, match="out: cannot resume: the earlier run differs in"):
            check_same_run("out", earlier, now, "hint")
    with pytest.raises(ClausetagError, match="fingerprint"):  # none, or damaged: never trusted
        check_same_run("out", {"settings": "x"}, now, "hint")


@PROPERTY
@given(
    st.lists(st.text(max_size=30), min_size=1, max_size=8), st.integers(0, 7), st.text(min_size=1, max_size=5)
)
def test_units_digest_sees_any_change(texts: list[str], at: int, extra: str) -> None:
    from clausetag.inference.resume import units_digest

    units = [({"doc": "d", "unit": i, "text": t}, None) for i, t in enumerate(texts)]
    changed = [dict(r) for r, _ in units]
    changed[at % len(changed)]["text"] += extra
    assert units_digest(units) == units_digest(list(units))
    assert units_digest(units) != units_digest([(r, None) for r in changed])
    assert units_digest(units) != units_digest(units[:-1])


# --------------------------------------------------------------------------- 5b. resume: torn records


LABELS = ["retention", "rights"]
CELL = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=25)


def _records(texts: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "doc": f'd,{i % 2}"',
            "unit": i,
            "text": t,
            "labels": ["rights"],
            "scores": {"retention": 0.1, "rights": 0.9},
        }
        for i, t in enumerate(texts)
    ]


@PROPERTY
@given(st.lists(CELL, min_size=1, max_size=6), st.sampled_from(["jsonl", "csv"]), st.integers(0, 10_000))
@example(["", "", "\r"], "csv", 160)  # a carriage return in a cell used to split its row
@example(["a\rb", "x"], "csv", 10_000)
def test_a_torn_tail_is_dropped_and_everything_before_it_kept(texts: list[str], fmt: str, cut: int) -> None:
    import tempfile

    from clausetag.inference.formats import format_record, header
    from clausetag.inference.resume import read_done

    records = _records(texts)
    lines = [header(fmt, LABELS).encode()] + [format_record(r, fmt, LABELS).encode() for r in records]
    data = b"".join(lines)
    cut = cut % (len(data) + 1)
    ends = [sum(len(x) for x in lines[: k + 1]) for k in range(len(lines))]
    whole = sum(end <= cut for end in ends[1:])  # records complete before the cut
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"out.{fmt}"
        path.write_bytes(data[:cut])
        done = read_done(path, fmt, LABELS)
    assert done.keys == [(r["doc"], r["unit"]) for r in records[:whole]]
    assert done.keep == (ends[whole] if cut >= ends[0] else 0)
    assert done.torn == (cut not in (0, *ends))


def _flaky_predict(monkeypatch: pytest.MonkeyPatch, fail_at: int | None) -> list[list[str]]:
    """Record every chunk ``ClauseClassifier.predict`` gets; fail on call number ``fail_at``."""
    from clausetag.inference.classifier import ClauseClassifier

    calls: list[list[str]] = []
    real = getattr(ClauseClassifier.predict, "unpatched", ClauseClassifier.predict)  # never a wrapper

    def predict(self: Any, texts: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(list(texts))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt
        return real(self, texts, *args, **kwargs)

    predict.unpatched = real  # type: ignore[attr-defined]
    monkeypatch.setattr(ClauseClassifier, "predict", predict)
    return calls


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_resumed_run_cuts_the_same_batches_and_writes_the_same_records(
    fmt: str, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks (and so int8's per-batch quantisation) are those of an uninterrupted run, however the
    earlier run ended: interrupted between chunks, or torn in the middle of one."""
    data = _units(tmp_path / "units.jsonl", 600)  # three chunks of at most 256 units
    argv = ["predict", "--model", str(tiny_model), "-q", str(data), "--resume"]
    full = tmp_path / f"full.{fmt}"
    whole = _flaky_predict(monkeypatch, None)
    assert cli([*argv, "-o", str(full)]) == 0
    assert [len(c) for c in whole] == [256, 256, 88]
    out = tmp_path / f"part.{fmt}"
    _flaky_predict(monkeypatch, 3)
    assert cli([*argv, "-o", str(out)]) == 130  # interrupted in the third chunk: two are kept
    assert out.read_bytes() == full.read_bytes()[: len(out.read_bytes())]
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:300]) + lines[300][:20])  # now torn in the middle of chunk 2
    again = _flaky_predict(monkeypatch, None)
    assert cli([*argv, "-o", str(out)]) == 0
    assert again == whole[1:]  # chunk 2 tagged again whole, with chunk 3: the same batches
    assert out.read_bytes() == full.read_bytes()


def test_resume_refuses_another_model_backend_threshold_or_input(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _units(tmp_path / "units.jsonl", 20)
    out = tmp_path / "o.jsonl"
    argv = ["predict", "--model", str(tiny_model), "-q", str(data), "-o", str(out), "--resume"]
    assert cli(argv) == 0
    out.write_bytes(b"".join(out.read_bytes().splitlines(keepends=True)[:5]))
    before = out.read_bytes()
    retrained = _model_copy(tiny_model, tmp_path)
    _edit_json(retrained / "thresholds.json", method="another training run")
    cases = [
        ([*argv, "--threshold", "0.3"], "differs in thresholds"),
        ([*argv, "--batch-size", "7"], "differs in --batch-size"),
        ([*argv[:2], str(retrained), *argv[3:]], "differs in model (its files)"),
        ([*argv, "--lang", "en"], "differs in --lang"),
    ]
    for args, expected in cases:
        assert cli(args) == 2
        _one_error(capsys, expected)
    with data.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"doc": "d0", "text": "A new sentence."}) + "\n")
    assert cli(argv) == 2
    _one_error(capsys, f"differs in input {data} (its units)")
    out.with_name(".o.jsonl.resume.json").unlink()
    assert cli(argv) == 2
    _one_error(capsys, "it has none readable")
    assert out.read_bytes() == before  # nothing mixed in


@pytest.fixture(scope="module")
def int8_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("onnxruntime")
    model = _model_copy(tiny_model, tmp_path_factory.mktemp("int8"))
    assert cli(["export-onnx", "--model", str(model), "--quantize", "int8"]) == 0
    return model


def test_a_resumed_int8_run_decides_as_an_uninterrupted_one(
    int8_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """onnx-int8 quantises activations per batch: the resumed run's records are the uninterrupted
    run's, byte for byte; resuming them with another backend is refused."""
    data = _units(tmp_path / "units.jsonl", 600)
    argv = ["predict", "--model", str(int8_model), "--backend", "onnx-int8", "-q", str(data), "--resume"]
    full, out = tmp_path / "full.jsonl", tmp_path / "part.jsonl"
    _flaky_predict(monkeypatch, None)
    assert cli([*argv, "-o", str(full)]) == 0
    _flaky_predict(monkeypatch, 3)
    assert cli([*argv, "-o", str(out)]) == 130
    lines = out.read_bytes().splitlines(keepends=True)
    out.write_bytes(b"".join(lines[:300]) + lines[300][:20])  # torn inside the second chunk
    before = out.read_bytes()
    capsys.readouterr()
    torch_argv = [a if a != "onnx-int8" else "torch" for a in argv]
    assert cli([*torch_argv, "-o", str(out)]) == 2
    _one_error(capsys, "backend; its records would mix")  # and the weights file it reads
    assert out.read_bytes() == before
    _flaky_predict(monkeypatch, None)
    assert cli([*argv, "-o", str(out)]) == 0
    assert out.read_bytes() == full.read_bytes()
    decisions = [json.loads(line)["labels"] for line in full.read_text().splitlines()]
    assert decisions == [json.loads(line)["labels"] for line in out.read_text().splitlines()]


# --------------------------------------------------------------------------- 6. encoder build -o FILE


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_encoder_build_onto_a_file_is_refused_and_the_file_kept(
    flags: list[str], tmp_path: Path, capsys
) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    assert cli(["encoder", "build", "-o", str(target), *flags]) == 2
    _one_error(capsys, "notes.txt: is a file; encoder build writes a Hugging Face model folder")
    assert target.read_text() == "mine"


def test_atomic_folder_never_replaces_a_file(tmp_path: Path) -> None:
    from clausetag.io import atomic_path

    target = tmp_path / "model"
    target.write_text("mine")
    with (
        pytest.raises(ClausetagError, match="is a file, not a folder"),
        atomic_path(target, directory=True) as tmp,
    ):
        (tmp / "config.json").write_text("{}")
    assert target.read_text() == "mine" and sorted(p.name for p in tmp_path.iterdir()) == ["model"]


# --------------------------------------------------------------------------- 7. many attributes on one tag


@pytest.mark.parametrize("n", [100_000, 200_000])
def test_a_tag_with_many_attributes_keeps_only_its_name(n: int) -> None:
    from clausetag.inference.markup import MAX_TAG_CHARS, bound_nesting, strip_html

    html = "<p " + " ".join(f"a{i}=1" for i in range(n)) + ">We keep data.</p><p title='x'>Rights.</p>"
    bounded = bound_nesting(html)
    assert bounded.startswith("<p>We keep data.") and len(bounded) < MAX_TAG_CHARS
    assert "<p title='x'>" in bounded  # short tags are left to the parser
    assert strip_html(html).split("\n") == ["We keep data.", "Rights."]


@pytest.mark.parametrize("case", ["long_line_20mb", "html_100k_attrs"])
def test_the_inputs_that_once_blew_up_stay_within_their_limits(
    case: str, tiny_model: Path, tmp_path: Path
) -> None:
    """benchmarks/hardening.py's check in CI: a 20 MB line (cut before tokenizing and n-gramming)
    and a tag of 100 000 attributes, each in a fresh process under its time and peak-RSS limit."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "hardening_bench", Path(__file__).parent.parent / "benchmarks" / "hardening.py"
    )
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    row = bench.run_case(case, tiny_model, "torch", tmp_path)
    assert row["exit"] == 0 and row["ok"], row


# --------------------------------------------------------------------------- 8-9. options and values


@pytest.mark.parametrize("value", ["0", "-5", "nan", "inf", "1.5"])
def test_checkpoint_every_must_be_a_positive_whole_number(value: str, tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        cli(
            [
                "predict",
                "--model",
                "m",
                "x.txt",
                "-o",
                str(tmp_path / "o"),
                "--resume",
                "--checkpoint-every",
                value,
            ]
        )
    assert exc.value.code == 2 and "--checkpoint-every" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--learning_rate", "nan"], "--learning_rate must be a finite number"),
        (["--learning_rate", "inf"], "--learning_rate must be a finite number"),
        (["--num_train_epochs", "nan"], "--num_train_epochs must be a finite number"),
    ],
)
def test_train_refuses_non_finite_numbers(argv: list[str], expected: str, tmp_path: Path, capsys) -> None:
    assert cli(["train", *argv, "-o", str(tmp_path / "m")]) == 2
    _one_error(capsys, expected)


@pytest.mark.parametrize("flags", [[], ["--overwrite"]])
def test_train_onto_an_existing_file_is_one_message(flags: list[str], tmp_path: Path, capsys) -> None:
    target = tmp_path / "model.txt"
    target.write_text("mine")
    assert cli(["train", "-o", str(target), *flags]) == 2
    _one_error(capsys, "model.txt: is a file; train writes a model directory")
    assert target.read_text() == "mine"


@pytest.mark.parametrize("content", ["\u200b\u200d\ufeff\n", "\u2060 \u200b\t\n\u200e"])
def test_a_file_of_zero_width_characters_is_empty(
    content: str, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    path = _policy(tmp_path, "zw.txt", content)
    assert cli(["predict", "--model", str(tiny_model), str(path)]) == 2
    _one_error(capsys, "zw.txt: the file is empty")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(content.encode())))
    assert cli(["predict", "--model", str(tiny_model), "-"]) == 2
    _one_error(capsys, "<stdin>: the input is empty")
    units = _policy(tmp_path, "zw.jsonl", content)  # JSONL: a line of them is a blank line
    assert cli(["predict", "--model", str(tiny_model), str(units)]) == 2
    _one_error(capsys, "zw.jsonl: the file holds no records")
    corpus = tmp_path / "corpus.jsonl"  # a corpus unit's text of them is an empty text
    corpus.write_text(json.dumps({"id": "a", "text": content, "lang": "en", "labels": ["retention"]}) + "\n")
    assert cli(["data", "validate", str(corpus)]) == 2
    assert "corpus.jsonl:1: empty text" in capsys.readouterr().err


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_is_decoded_with_a_bom_and_named_without(
    encoding: str, tiny_model: Path, tmp_path: Path, capsys
) -> None:
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    reference = tmp_path / "ref.jsonl"
    assert (
        cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(reference)]) == 0
    )
    policy = tmp_path / "p16" / "p.txt"
    policy.parent.mkdir()
    policy.write_bytes(bom + POLICY.encode(encoding))
    out = tmp_path / "o.jsonl"
    assert cli(["predict", "--model", str(tiny_model), "-q", str(policy), "-o", str(out)]) == 0
    assert out.read_text() == reference.read_text()
    units = tmp_path / "u.jsonl"
    units.write_bytes(bom + (json.dumps({"text": POLICY}) + "\n").encode(encoding))
    assert cli(["predict", "--model", str(tiny_model), "-q", str(units)]) == 0
    capsys.readouterr()
    bare = tmp_path / "bare.txt"
    bare.write_bytes(POLICY.encode("utf-16-le"))
    assert cli(["predict", "--model", str(tiny_model), str(bare)]) == 2
    _one_error(capsys, "bare.txt: looks like UTF-16 text without a byte-order mark; convert it to UTF-8")
    bare.write_bytes(b"\xff\xfe\x00\x00" + POLICY.encode("utf-32-le"))
    assert cli(["predict", "--model", str(tiny_model), str(bare)]) == 2
    _one_error(capsys, "bare.txt: looks like UTF-32 text; convert it to UTF-8")


def test_languages_are_one_definition_everywhere(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from clausetag.inference import ClauseClassifier
    from clausetag.inference.report import coverage  # noqa: F401  (uses the same list)
    from clausetag.languages import LANGUAGES

    with pytest.raises(SystemExit):
        cli(["predict", "--model", str(tiny_model), str(_policy(tmp_path)), "--lang", "xx"])
    err = capsys.readouterr().err
    assert "'xx'" in err and all(f"'{lang}'" in err for lang in LANGUAGES), err
    with pytest.raises(ClausetagError, match="lang must be one of en, lv or None, not 'xx'"):
        ClauseClassifier.from_pretrained(tiny_model).tag_document(POLICY, lang="xx")
    data = tmp_path / "units.jsonl"
    data.write_text(json.dumps({"id": "a", "text": POLICY, "lang": "xx", "labels": ["retention"]}) + "\n")
    assert cli(["data", "validate", str(data)]) == 2
    assert "units.jsonl:1: lang must be one of en, lv, not 'xx'" in capsys.readouterr().err
    assert cli(["evaluate", "--model", str(tiny_model), "--data", str(data), "--bootstrap", "5"]) == 2
    assert "units.jsonl:1: lang must be one of en, lv, not 'xx'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('{"text": "a", "score": NaN}', "u.jsonl:2: NaN is not valid JSON"),
        ('{"text": "a", "n": -Infinity}', "u.jsonl:2: -Infinity is not valid JSON"),
        (
            '{"text": "a", "doc": ["x"]}',
            "u.jsonl:2: field 'doc' must be a string (or a whole number), not an array",
        ),
        (
            '{"text": "a", "id": {"k": 1}}',
            "u.jsonl:2: field 'id' must be a string (or a whole number), not an object",
        ),
        (
            '{"text": "a", "id": true}',
            "u.jsonl:2: field 'id' must be a string (or a whole number), not a boolean",
        ),
        (
            '{"text": "a", "doc": 1.5}',
            "u.jsonl:2: field 'doc' must be a string (or a whole number), not a number",
        ),
    ],
)
def test_json_nan_and_non_string_names_are_refused(line: str, expected: str, tmp_path: Path, capsys) -> None:
    data = tmp_path / "u.jsonl"
    data.write_text('{"text": "fine", "id": 7}\n' + line + "\n")
    assert cli(["predict", "--model", str(tmp_path / "m"), str(data)]) == 2
    _one_error(capsys, expected)


# --------------------------------------------------------------------------- 8. names checked before tagging


def test_non_utf8_output_and_input_names_are_refused_before_tagging(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    calls = _flaky_predict(monkeypatch, None)
    out = os.fsdecode(os.fsencode(str(tmp_path)) + b"/\xff.jsonl")
    assert cli(["predict", "--model", str(tiny_model), str(_policy(tmp_path)), "-o", out]) == 2
    _one_error(capsys, "the output name is not valid UTF-8 (byte 0xff); rename it")
    unencodable = str(tmp_path / "a\ud800.jsonl")
    assert cli(["predict", "--model", str(tiny_model), str(_policy(tmp_path)), "-o", unencodable]) == 2
    _one_error(capsys, "the output name is not valid UTF-8 (\\ud800)")
    name = os.fsencode(str(tmp_path)) + b"/caf\xe9.txt"
    Path(os.fsdecode(name)).write_text(POLICY)
    assert cli(["predict", "--model", str(tiny_model), os.fsdecode(name), "-o", str(tmp_path / "o")]) == 2
    _one_error(capsys, "the input file name is not valid UTF-8 (byte 0xe9)")
    assert calls == [] and not list(tmp_path.glob("o*"))


# ------------------------------------------------------------------ 7. Ray: address, workers, summary


class _FakeRay:
    def __init__(self, cpus: int) -> None:
        self.cpus = cpus

    def cluster_resources(self) -> dict[str, float]:
        return {"CPU": float(self.cpus)}


def test_workers_are_capped_with_a_reason(caplog: pytest.LogCaptureFixture) -> None:
    from clausetag.inference.ray_cluster import worker_shape

    with caplog.at_level(logging.WARNING, logger="clausetag"):
        assert worker_shape(_FakeRay(2), 1000) == (2, 1, 1.0)
    assert "--workers 1000 capped to 2: each worker needs at least one CPU" in caplog.text
    caplog.clear()
    assert worker_shape(_FakeRay(8), 4) == (4, 2, 2.0) and not caplog.text


@contextlib.contextmanager
def _silent_server() -> Iterator[int]:
    """A port that accepts connections and never answers (a firewall that drops nothing, a proxy)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    try:
        yield server.getsockname()[1]
    finally:
        server.close()


def test_ray_address_from_the_environment_is_checked_like_the_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("ray")
    from clausetag.inference import ray_run as engine

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("RAY_ADDRESS", f"127.0.0.1:{port}")
    out = tmp_path / "tags"
    argv = [
        "predict",
        "--model",
        str(tmp_path / "m"),
        "--engine",
        "ray",
        "-o",
        str(out),
        str(_policy(tmp_path)),
    ]
    monkeypatch.setattr(engine, "default_backend", lambda model: "torch")
    monkeypatch.setattr(engine, "ModelDir", _NoModel)
    assert cli(argv) == 2
    _one_error(capsys, f"RAY_ADDRESS 127.0.0.1:{port}: no Ray cluster answers there")
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["status"] == "failed" and "no Ray cluster answers" in summary["error"]
    monkeypatch.setenv("RAY_ADDRESS", "not an address")
    assert cli(argv) == 2
    _one_error(capsys, "RAY_ADDRESS 'not an address': expected HOST:PORT")


class _NoModel:
    """Stands in for ``ModelDir`` where these tests never get as far as a model."""

    @staticmethod
    def open(path: Any) -> Any:
        return type(
            "M", (), {"path": Path(path), "labels": ("a",), "thresholds": (0.5,), "onnx_file": None}
        )()


def test_check_address_is_bounded_however_long_a_connection_hangs(monkeypatch: pytest.MonkeyPatch) -> None:
    from clausetag.inference import ray_cluster as engine

    monkeypatch.setattr(engine, "_CONNECT_TIMEOUT_S", 0.3)

    def hang(*_: object, **__: object) -> None:  # DNS that hangs, then fails (the thread ends quietly)
        time.sleep(30)
        raise OSError("timed out")

    monkeypatch.setattr(engine.socket, "create_connection", hang)
    started = time.perf_counter()
    with pytest.raises(
        ClausetagError, match=r"--address slow\.example:6379: no Ray cluster answers there \(timed out"
    ):
        engine.check_address("slow.example:6379")
    assert time.perf_counter() - started < 3


@pytest.mark.slow
def test_sigterm_while_joining_an_address_that_never_answers(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "tags"
    with _silent_server() as port:
        env = {**os.environ, "RAY_ADDRESS": f"127.0.0.1:{port}", "RAY_USAGE_STATS_ENABLED": "0"}
        cmd = [sys.executable, "-m", "clausetag", "predict", "--model", str(tiny_model), "--engine", "ray"]
        proc = subprocess.Popen(
            [*cmd, "-o", str(out), "-q", str(_policy(tmp_path))], env=env, stderr=subprocess.PIPE, text=True
        )
        deadline = time.monotonic() + 60
        while not (out / "_summary.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # inside ray.init's retries now
        sent = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert time.monotonic() - sent < 10 and proc.returncode == 130
    assert json.loads((out / "_summary.json").read_text())["status"] == "interrupted"


def test_ray_resume_refuses_a_corrupt_summary_or_a_changed_input(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Checked before Ray starts: the partitions and the summary are all it takes."""
    pytest.importorskip("ray")
    from clausetag.inference import ray_run as engine
    from clausetag.inference.batch import load_classifier

    policy, units = _policy(tmp_path), _units(tmp_path / "units.jsonl", 5)
    out = tmp_path / "tags"
    out.mkdir()
    settings = engine.Settings(str(tiny_model), "torch", "jsonl", 32, None, None, 1 << 20)
    tasks, _ = engine.plan_tasks([str(policy), str(units)], out, settings)
    tagger = engine.FileTagger.__new__(engine.FileTagger)  # its work, without a Ray actor
    tagger.settings, tagger.error = settings, None
    tagger.clf = load_classifier(settings.model, "torch")
    outcomes = [tagger.tag(t) for t in tasks]
    fingerprint = engine.settings_print(tagger.clf.model_dir, "torch", None, "jsonl", None, 32)
    tally = engine.Tally(settings, fingerprint, [str(policy), str(units)])
    for outcome in outcomes:
        tally.add(outcome)
    (out / "_summary.json").write_text(json.dumps(tally.summary("interrupted")))
    monkeypatch.setattr(engine, "connect", lambda *a: pytest.fail("Ray must not start"))
    argv = [
        "predict",
        "--model",
        str(tiny_model),
        "--engine",
        "ray",
        "--backend",
        "torch",
        "-q",
        "-o",
        str(out),
    ]
    assert cli([*argv, str(policy), str(units), "--resume"]) == 0  # the same run: nothing to do
    capsys.readouterr()
    retrained = _model_copy(tiny_model, tmp_path)
    _edit_json(retrained / "thresholds.json", method="another training run")
    for changed, expected in (
        ([*argv, "--threshold", "0.3"], "differs in thresholds"),
        ([*argv[:2], str(retrained), *argv[3:]], "differs in model (its files)"),
        ([*argv[:6], "onnx", *argv[7:]], "backend; its records would mix"),
    ):
        assert cli([*changed, str(policy), str(units), "--resume"]) == 2
        _one_error(capsys, expected)
    policy.write_text(POLICY + " We sell nothing.")
    assert cli([*argv, str(policy), str(units), "--resume"]) == 2
    _one_error(capsys, f"differs in input {policy} (its units)")
    assert cli([*argv, str(units), "--resume"]) == 2
    _one_error(capsys, "differs in list of inputs")
    (out / "_summary.json").write_text("{not json")
    assert cli([*argv, str(policy), str(units), "--resume"]) == 2
    _one_error(capsys, "cannot resume: the earlier run differs in fingerprint")


# --------------------------------------------------------------------------- the API


def test_api_refuses_what_the_cli_refuses(tiny_model: Path) -> None:
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(tiny_model)
    with pytest.raises(ClausetagError, match="lang must be one of"):
        clf.tag_document(POLICY, lang="de")
    assert clf.tag_document(POLICY, lang="lv")  # known languages pass


def test_api_tags_a_lone_surrogate(tiny_model: Path) -> None:
    """``predict(["a \\ud800"])``: a result (the text kept as given), scored as U+FFFD would be."""
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(tiny_model)
    [got] = clf.predict(["a \ud800"])
    [same] = clf.predict(["a \ufffd"])
    assert got.text == "a \ud800" and got.scores == same.scores and got.labels == same.labels
    assert clf.tag_document("We keep data \ud800 for 5 years.")[0].labels is not None


def test_the_service_accepts_the_languages_of_the_cli() -> None:
    from typing import get_args

    from clausetag.inference.service.schemas import Lang
    from clausetag.languages import LANGUAGES

    assert get_args(Lang) == LANGUAGES


def test_csv_rows_are_read_back_exactly(tmp_path: Path) -> None:
    """A CSV resume reads its own cells back (quotes, commas, newlines, formula starts)."""
    from clausetag.inference.formats import format_record, header
    from clausetag.inference.resume import read_done

    texts = ['a "quoted", cell', "two\nlines", "=SUM(A1)", "'=x", "", "old\rMac\r\nlines", "\r"]
    records = _records(texts)
    path = tmp_path / "o.csv"
    path.write_text(header("csv", LABELS) + "".join(format_record(r, "csv", LABELS) for r in records))
    assert read_done(path, "csv", LABELS).keys == [(r["doc"], r["unit"]) for r in records]
    with path.open(newline="", encoding="utf-8") as fh:
        assert len(list(csv.reader(fh))) == len(records) + 1
