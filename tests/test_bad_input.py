"""Every kind of bad input: one clear message, exit status 2, no traceback, no output file."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from clausetag.cli import main as cli

Maker = Callable[[Path], Path]


def _write(name: str, data: bytes) -> Maker:
    def make(tmp: Path) -> Path:
        path = tmp / name
        path.write_bytes(data)
        return path

    return make


def _sparse(name: str, size: int) -> Maker:
    """A file that is ``size`` bytes long without writing them (the size check comes first)."""

    def make(tmp: Path) -> Path:
        path = tmp / name
        with path.open("wb") as fh:
            fh.truncate(size)
        return path

    return make


def _empty_dir(tmp: Path) -> Path:
    path = tmp / "empty-folder"
    path.mkdir()
    (path / "notes.pdf").write_bytes(b"%PDF")
    return path


GOOD_LINE = json.dumps({"text": "We keep data."}).encode() + b"\n"
MB = 1024 * 1024

INPUT_CASES: dict[str, tuple[Maker, str]] = {
    "empty file": (_write("empty.txt", b""), "empty.txt: the file is empty"),
    "blank file": (_write("blank.txt", b" \n\t\n"), "blank.txt: the file is empty"),
    "binary file": (_write("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "looks like a binary file"),
    "undecodable bytes": (
        _write("latin1.txt", "Privātuma politika".encode() + b" caf\xe9"),
        "latin1.txt: not valid UTF-8 (byte 0xe9 at offset 23)",
    ),
    "50 MB file": (_sparse("huge.txt", 50 * MB), "huge.txt: 52.4 MB is larger than the 21.0 MB limit"),
    "50 MB jsonl": (_sparse("huge.jsonl", 50 * MB), "huge.jsonl: 52.4 MB is larger than"),
    "malformed jsonl line": (
        _write("bad.jsonl", GOOD_LINE + b'{"text": "unterminated\n'),
        "bad.jsonl:2: malformed JSON",
    ),
    "jsonl without text": (
        _write("notext.jsonl", GOOD_LINE * 2 + b'{"doc": "a", "body": "x"}\n'),
        "notext.jsonl:3: missing field(s) text",
    ),
    "jsonl text not a string": (
        _write("num.jsonl", b'{"text": 5}\n'),
        "num.jsonl:1: field 'text' must be a string",
    ),
    "jsonl line not an object": (_write("list.jsonl", b'["text"]\n'), "list.jsonl:1: expected a JSON object"),
    "jsonl without records": (_write("none.jsonl", b"\n\n"), "none.jsonl: the file holds no records"),
    "jsonl undecodable line": (
        _write("enc.jsonl", GOOD_LINE + b'{"text": "\xff"}\n'),
        "enc.jsonl:2: not valid UTF-8",
    ),
    "html with no text": (
        _write("blank.html", b"<html><head><script>var a = 1;</script></head><body> </body></html>"),
        "blank.html: no text left after removing the markup",
    ),
    "unsupported type": (_write("policy.pdf", b"%PDF-1.4"), "policy.pdf: unsupported file type '.pdf'"),
    "missing file": (lambda tmp: tmp / "nowhere.txt", "nowhere.txt: no such file"),
    "folder without policies": (_empty_dir, "empty-folder: no supported files in this directory"),
}


def assert_clean_failure(code: int, err: str, expected: str, output: Path) -> None:
    assert code == 2
    assert err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1, f"one message, one line: {err!r}"
    assert "Traceback" not in err
    assert not output.exists()
    assert not [p for p in output.parent.glob(f".{output.name}*")], "temporary file left behind"


@pytest.mark.parametrize("case", list(INPUT_CASES))
def test_predict_bad_input(case: str, tiny_model: Path, tmp_path: Path, capsys) -> None:
    make, expected = INPUT_CASES[case]
    good = tmp_path / "good.txt"
    good.write_text("We keep data for 5 years.", encoding="utf-8")
    out = tmp_path / "out" / "tags.jsonl"
    # The bad input comes second: nothing from the good one may be written either.
    code = cli(
        ["predict", "--model", str(tiny_model), "--quiet", str(good), str(make(tmp_path)), "-o", str(out)]
    )
    assert_clean_failure(code, capsys.readouterr().err, expected, out)


@pytest.mark.parametrize("case", ["empty file", "binary file", "undecodable bytes", "50 MB file"])
def test_report_bad_input(case: str, tiny_model: Path, tmp_path: Path, capsys) -> None:
    make, expected = INPUT_CASES[case]
    out = tmp_path / "report.html"
    code = cli(["report", "--model", str(tiny_model), str(make(tmp_path)), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, expected, out)


def test_max_bytes_is_configurable(tiny_model: Path, tmp_path: Path, capsys) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text("We keep data for 5 years. " * 10, encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tiny_model), str(policy), "--max-bytes", "100", "-o", str(out)])
    err = capsys.readouterr().err
    assert_clean_failure(code, err, "is larger than the", out)
    assert f"{policy}: " in err and "raise --max-bytes" in err


@pytest.mark.parametrize(
    ("data", "args", "expected"),
    [
        (b"", [], "<stdin>: the input is empty"),
        (b"\x00\x01binary", [], "<stdin>: looks like a binary file"),
        (b"caf\xe9", [], "<stdin>: not valid UTF-8"),
        (b"x" * 200, ["--max-bytes", "100"], "<stdin>: more than the 100 bytes limit"),
        (b"<p> </p>", ["--stdin-format", "html"], "<stdin>: no text left after removing the markup"),
    ],
)
def test_bad_stdin(
    data: bytes, args: list[str], expected: str, tiny_model: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    import io

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tiny_model), "-", *args, "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, expected, out)


# --------------------------------------------------------------------------- model directories


def _break_model(kind: str, model: Path) -> None:
    if kind.startswith("missing "):
        (model / kind.removeprefix("missing ")).unlink()
    elif kind == "labels differ":
        th = json.loads((model / "thresholds.json").read_text())
        th["thresholds"]["made_up"] = th["thresholds"].pop("retention")
        (model / "thresholds.json").write_text(json.dumps(th))
    elif kind == "corrupt weights":
        (model / "model.safetensors").write_bytes(b"\x00" * 64)
    elif kind == "corrupt config":
        (model / "config.json").write_text("{not json")
    elif kind == "threshold out of range":
        th = json.loads((model / "thresholds.json").read_text())
        th["thresholds"]["retention"] = 7
        (model / "thresholds.json").write_text(json.dumps(th))


MODEL_CASES = {
    "missing config.json": "missing config.json; is this a clausetag model directory?",
    "missing thresholds.json": "missing thresholds.json",
    "missing tokenizer.json": "missing tokenizer.json",
    "missing model.safetensors": "missing model.safetensors",
    "labels differ": "does not match thresholds.json (only in config: ['retention']; "
    "only in thresholds: ['made_up'])",
    "corrupt weights": "cannot load the model",
    "corrupt config": "config.json: not valid JSON",
    "threshold out of range": "thresholds must be numbers in [0, 1]",
}


@pytest.mark.parametrize("case", list(MODEL_CASES))
def test_broken_model_directory(case: str, tiny_model: Path, tmp_path: Path, capsys) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    _break_model(case, model)
    policy = tmp_path / "p.txt"
    policy.write_text("We keep data for 5 years.", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(model), str(policy), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, MODEL_CASES[case], out)


def test_model_directory_not_found_and_onnx_not_exported(tiny_model: Path, tmp_path: Path, capsys) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text("We keep data for 5 years.", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tmp_path / "nope"), str(policy), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, "model directory not found", out)
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    code = cli(["predict", "--model", str(model), str(policy), "--backend", "onnx-int8", "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, "export-onnx --model", out)


def test_failure_mid_run_keeps_the_old_output(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """A crash after tagging has started leaves the previous output exactly as it was."""
    from clausetag.errors import ClausetagError
    from clausetag.inference.classifier import ClauseClassifier

    data = tmp_path / "many.jsonl"
    data.write_text("".join(json.dumps({"text": f"Unit {i}."}) + "\n" for i in range(600)), encoding="utf-8")
    out = tmp_path / "o.jsonl"
    out.write_text("previous run\n", encoding="utf-8")
    calls = []
    real = ClauseClassifier.predict

    def flaky(self, texts, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(texts))
        if len(calls) > 1:
            raise ClausetagError("simulated failure in the second chunk")
        return real(self, texts, *args, **kwargs)

    monkeypatch.setattr(ClauseClassifier, "predict", flaky)
    code = cli(["predict", "--model", str(tiny_model), "--quiet", str(data), "-o", str(out)])
    assert code == 2 and len(calls) == 2
    assert "simulated failure" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == "previous run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.jsonl", "o.jsonl"]


def test_bad_option_values_are_usage_errors(tiny_model: Path, tmp_path: Path, capsys) -> None:
    for bad in (["--threshold", "1.5"], ["--batch-size", "0"], ["--format", "xml"], ["--backend", "tf"]):
        with pytest.raises(SystemExit) as exc:
            cli(["predict", "--model", str(tiny_model), "x.txt", *bad])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert "usage: clausetag predict" in err and "Traceback" not in err


def test_real_process_exit_status_and_stderr(tiny_model: Path, tmp_path: Path) -> None:
    """The same contract through the console entry point, in a separate process."""
    binary = tmp_path / "blob.html"
    binary.write_bytes(bytes(range(256)) * 4)
    out = tmp_path / "o.jsonl"
    cmd = [sys.executable, "-m", "clausetag.cli", "predict", "--model", str(tiny_model), str(binary)]
    done = subprocess.run([*cmd, "-o", str(out)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr == f"clausetag: error: {binary}: looks like a binary file, expected text\n"
    assert done.stdout == "" and not out.exists()


def test_doc_names_must_stay_unique(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """(doc, unit) keys --resume relies on: a JSONL doc may not reuse a policy file's name."""
    policy = tmp_path / "a.txt"
    policy.write_text("We keep data.", encoding="utf-8")
    units = tmp_path / "units.jsonl"
    units.write_text(json.dumps({"doc": "a", "text": "Also a."}) + "\n", encoding="utf-8")
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tiny_model), str(policy), str(units), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, "doc 'a' is also the name of a policy file", out)
    code = cli(["predict", "--model", str(tiny_model), str(policy), str(policy), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, "given more than once", out)
