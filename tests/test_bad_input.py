"""Every kind of bad input: one clear message, exit status 2, no traceback, no output file."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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


def _symlink_loop(tmp: Path) -> Path:
    path = tmp / "loop.txt"
    path.symlink_to(path.name)
    return path


def _fifo_without_writer(tmp: Path) -> Path:
    path = tmp / "pipe.txt"
    os.mkfifo(path)
    return path


def _special(path: str) -> Maker:
    return lambda tmp: Path(path)


def _jsonl(name: str, *lines: bytes) -> Maker:
    return _write(name, b"".join(line + b"\n" for line in lines))


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
    # Issue 15: sizes enforced while reading, one NUL rule, OS errors and JSON limits as messages.
    "/dev/zero (stat size 0)": (_special("/dev/zero"), "/dev/zero: looks like a binary file"),
    "/dev/urandom (stat size 0)": (_special("/dev/urandom"), "/dev/urandom: looks like a binary file"),
    "/proc/self/mem (I/O error)": (_special("/proc/self/mem"), "mem: cannot read (Input/output error)"),
    "symlink loop": (_symlink_loop, "loop.txt: cannot read (Too many levels of symbolic links)"),
    "fifo nobody writes to": (_fifo_without_writer, "pipe.txt: the file is empty"),
    "NUL byte after 8 KiB": (
        _write("late.txt", b"We keep data. " * 700 + b"\x00"),
        "late.txt: looks like a binary",
    ),
    "NUL byte after 8 KiB of a jsonl line": (
        _jsonl("late.jsonl", b'{"text": "' + b"a" * 9000 + b'\x00"}'),
        "late.jsonl: looks like a binary file",
    ),
    "jsonl \\u0000 in text": (
        _jsonl("nul.jsonl", GOOD_LINE[:-1], b'{"text": "a\\u0000b"}'),
        "nul.jsonl:2: a string holds a NUL",
    ),
    "jsonl lone surrogate": (
        _jsonl("sur.jsonl", b'{"text": "\\ud800"}'),
        "sur.jsonl:1: a string holds a lone surrogate",
    ),
    "jsonl lone surrogate in an extra field": (
        _jsonl("sur2.jsonl", b'{"text": "ok", "meta": {"k": ["\\udfff"]}}'),
        "sur2.jsonl:1: a string holds a lone surrogate (\\udfff)",
    ),
    "jsonl nested 100 000 deep": (
        _jsonl("deep.jsonl", b'{"text": "x", "extra": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
        "deep.jsonl:1: JSON nested too deeply",
    ),
    "jsonl 5000-digit integer": (
        _jsonl("digits.jsonl", b'{"text": "x", "n": ' + b"9" * 5000 + b"}"),
        "digits.jsonl:1: a number in this line is too long",
    ),
    "jsonl empty text": (
        _jsonl("e.jsonl", GOOD_LINE[:-1], b'{"text": ""}'),
        "e.jsonl:2: field 'text' is empty",
    ),
    "jsonl blank text": (_jsonl("b.jsonl", b'{"text": " \\t\\n "}'), "b.jsonl:1: field 'text' is empty"),
    "jsonl zero-width text": (
        _jsonl("z.jsonl", b'{"text": "\\u200b\\u200d\\ufeff"}'),
        "z.jsonl:1: field 'text' is empty",
    ),
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
    elif kind == "truncated weights":  # a download or copy cut short: a valid header, half the data
        data = (model / "model.safetensors").read_bytes()
        (model / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif kind == "corrupt config":
        (model / "config.json").write_text("{not json")
    elif kind == "threshold out of range":
        _edit_json(model / "thresholds.json", lambda th: th["thresholds"].update(retention=7))
    elif kind == "threshold true":
        _edit_json(model / "thresholds.json", lambda th: th["thresholds"].update(retention=True))
    elif kind == "threshold NaN":
        _edit_json(model / "thresholds.json", lambda th: th["thresholds"].update(retention=math.nan))
    elif kind == "max_length beyond the position embeddings":
        _edit_json(model / "thresholds.json", lambda th: th.update(max_length=100_000))
    elif kind == "corrupt tokenizer":
        (model / "tokenizer.json").write_text('{"version": "1.0", "model": 5}')
    elif kind == "a label added after training":
        _add_label(model, "extra")
    elif kind == "threshold a string":
        _edit_json(model / "thresholds.json", lambda th: th["thresholds"].update(retention="0.5"))
    elif kind == "max_length null":
        _edit_json(model / "thresholds.json", lambda th: th.update(max_length=None))
    elif kind == "config.json an array":
        (model / "config.json").write_text("[]")
    elif kind == "a label that is a list":
        _edit_json(model / "config.json", lambda c: c["id2label"].update({"0": ["controller"]}))


def _edit_json(path: Path, change: Callable[[Any], Any]) -> None:
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj))


def _add_label(model: Path, name: str) -> None:
    def config(c: dict) -> None:
        n = len(c["id2label"])
        c["id2label"][str(n)] = name
        c["label2id"][name] = n

    _edit_json(model / "config.json", config)
    _edit_json(model / "thresholds.json", lambda th: th["thresholds"].update({name: 0.5}))


MODEL_CASES = {
    "missing config.json": "missing config.json; is this a clausetag model directory?",
    "missing thresholds.json": "missing thresholds.json",
    "missing tokenizer.json": "missing tokenizer.json",
    "missing model.safetensors": "missing model.safetensors",
    "labels differ": "does not match thresholds.json (only in config: ['retention']; "
    "only in thresholds: ['made_up'])",
    "corrupt weights": "cannot load the model",
    "truncated weights": "cannot load the model (SafetensorError: ",
    "corrupt config": "config.json: not valid JSON",
    "threshold out of range": "thresholds must be numbers in [0, 1]",
    "threshold true": "thresholds must be numbers in [0, 1] (['retention'])",
    "threshold NaN": "thresholds.json: NaN is not valid JSON",
    "max_length beyond the position embeddings": "max_length 100000 in thresholds.json is more than the "
    "model's 512 token positions",
    "corrupt tokenizer": "cannot load the model (Exception: ",
    "a label added after training": "the weights in model.safetensors do not fit config.json",
    "threshold a string": "thresholds must be numbers in [0, 1] (['retention'])",
    "max_length null": "thresholds.json: max_length must be a whole number of at least 1, not None",
    "config.json an array": "config.json: expected a JSON object, not an array",
    "a label that is a list": "config.json: id2label must map each id to a label name (a string)",
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


#: ``export-onnx`` reads the same directories: the same one message, and nothing written.
EXPORT_CASES = ["truncated weights", "corrupt weights", "missing model.safetensors", "corrupt tokenizer"]


@pytest.mark.parametrize("case", EXPORT_CASES)
def test_export_onnx_refuses_a_broken_model_directory(
    case: str, tiny_model: Path, tmp_path: Path, capsys
) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    _break_model(case, model)
    before = sorted(p.name for p in model.iterdir())
    code = cli(["export-onnx", "--model", str(model), "--quantize", "int8"])
    err = capsys.readouterr().err
    assert code == 2 and MODEL_CASES[case] in err and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1, err
    assert sorted(p.name for p in model.iterdir()) == before  # no onnx/ folder, no temporary file


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


#: ``clausetag train``: an unknown flag or a malformed config is one message, exit 2, no traceback.
TRAIN_CASES: dict[str, tuple[str, str | None, str]] = {
    # name: (config text or a flag, config file name (None: a flag), expected message)
    "unknown flag": ("--frobnicate", None, "unrecognized argument(s): --frobnicate"),
    "bad flag value": ("--num_train_epochs=many", None, "invalid float value: 'many'"),
    "bad choice": ("--loss=hinge", None, "invalid choice: 'hinge'"),
    "batch size 0": ("--per_device_train_batch_size=0", None, "must be a whole number of at least 1"),
    "malformed YAML": ("pooling: [mean\n", "run.yaml", "run.yaml: not valid YAML"),
    "YAML not a mapping": ("- pooling\n", "run.yml", "run.yml: expected a mapping of argument names"),
    "malformed JSON": ('{"pooling": "mean",}', "run.json", "run.json: not valid JSON"),
    "JSON unknown key": ('{"poolin": "mean"}', "run.json", "run.json: unknown argument(s) poolin"),
    "JSON bad value": ('{"threshold_policy": "best"}', "run.json", "--threshold_policy must be one of"),
    "JSON wrong type": ('{"max_length": "long"}', "run.json", "--max_length must be a whole number"),
    "empty config": ("", "run.yaml", "run.yaml: the file is empty"),
}


@pytest.mark.parametrize("case", list(TRAIN_CASES))
def test_train_bad_arguments(case: str, tmp_path: Path, capsys) -> None:
    given, name, expected = TRAIN_CASES[case]
    out = tmp_path / "m"
    if name is None:
        argv = [given, "--output_dir", str(out)]
    else:
        (tmp_path / name).write_text(given, encoding="utf-8")
        argv = [str(tmp_path / name)]
    assert cli(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


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


# --------------------------------------------------------------------------- issue 15: outputs


def _policy(tmp: Path) -> Path:
    policy = tmp / "p.txt"
    policy.write_text("We keep data for 5 years. You can object.", encoding="utf-8")
    return policy


def _out_dir(tmp: Path) -> str:
    (tmp / "existing").mkdir()
    return str(tmp / "existing")


def _out_loop(tmp: Path) -> str:
    (tmp / "loop.jsonl").symlink_to("loop.jsonl")
    return str(tmp / "loop.jsonl")


def _out_below_file(tmp: Path) -> str:
    (tmp / "plain").write_text("x")
    return str(tmp / "plain" / "o.jsonl")


#: Outputs refused before anything is read or loaded: the model path does not even exist.
OUTPUT_CASES: dict[str, tuple[Callable[[Path], str], str]] = {
    "an existing directory": (_out_dir, "existing: is a directory; give a file name"),
    "an empty path": (lambda tmp: "", "the output path is empty"),
    "a symlink loop": (_out_loop, "loop.jsonl: too many levels of symbolic links"),
    "a path below a regular file": (_out_below_file, "o.jsonl: cannot use as output (Not a directory)"),
}


@pytest.mark.parametrize("command", ["predict", "report"])
@pytest.mark.parametrize("case", list(OUTPUT_CASES))
def test_bad_output_is_refused_before_any_work(case: str, command: str, tmp_path: Path, capsys) -> None:
    make, expected = OUTPUT_CASES[case]
    output = make(tmp_path)
    code = cli([command, "--model", str(tmp_path / "no-model"), str(_policy(tmp_path)), "-o", output])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1 and "model directory not found" not in err


def _device(path: str) -> str:
    """A real device to write to, once the code is known to stream to it.

    A regression that renamed a file over it would replace /dev/null for the
    whole machine when tests run as root (it happened, checking the old code):
    fail here first, before the command runs.
    """
    from clausetag.io import output_target

    assert stat.S_ISCHR(os.stat(path).st_mode), f"{path} is no longer a device: restore it (mknod)"
    assert output_target(path).stream, f"{path} would be replaced by a regular file"
    return path


def test_output_onto_devices_writes_a_stream_and_replaces_nothing(
    tiny_model: Path, tmp_path: Path, capfd
) -> None:
    """-o /dev/null, a symlink to it, /dev/stdout: the device and the link stay what they were."""
    policy = str(_policy(tmp_path))
    link = tmp_path / "null-link.jsonl"
    link.symlink_to("/dev/null")
    for target in (_device("/dev/null"), str(link)):
        assert cli(["predict", "--model", str(tiny_model), "-q", policy, "-o", target]) == 0
        assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert not list(tmp_path.glob(".null-link*"))
    capfd.readouterr()
    from clausetag.io import output_target

    assert output_target("/dev/stdout").stream  # else the command would replace the /dev/stdout link
    assert cli(["predict", "--model", str(tiny_model), "-q", policy, "-o", "/dev/stdout"]) == 0
    out = capfd.readouterr().out
    assert [json.loads(line)["doc"] for line in out.splitlines()] == ["p", "p"]


def test_output_symlink_to_a_file_keeps_the_link(tiny_model: Path, tmp_path: Path) -> None:
    real = tmp_path / "real.jsonl"
    real.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(real.name)
    assert cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(link)]) == 0
    assert link.is_symlink() and len(real.read_text().splitlines()) == 2


def test_resume_onto_a_device_is_refused(tiny_model: Path, tmp_path: Path, capsys) -> None:
    code = cli(
        [
            "predict",
            "--model",
            str(tiny_model),
            str(_policy(tmp_path)),
            "-o",
            _device("/dev/null"),
            "--resume",
        ]
    )
    assert code == 2 and "--resume needs a regular file" in capsys.readouterr().err


def test_full_device_is_one_message(tiny_model: Path, tmp_path: Path, capsys) -> None:
    code = cli(
        ["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", _device("/dev/full")]
    )
    err = capsys.readouterr().err
    assert code == 2 and err == "clausetag: error: /dev/full: cannot write (No space left on device)\n"


def test_disk_full_mid_write_leaves_nothing(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from clausetag.inference import cli as predict_cli

    def full(*args: Any) -> str:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(predict_cli, "format_record", full)
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(out)])
    assert_clean_failure(
        code, capsys.readouterr().err, "o.jsonl: cannot write (No space left on device)", out
    )


def test_read_only_location_fails_before_tagging(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    """Simulated (tests may run as root, whom chmod does not stop): the lock file cannot be made."""
    import clausetag.io

    def read_only(*args: Any) -> int:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(clausetag.io, "_try_lock", read_only)
    out = tmp_path / "o.jsonl"
    code = cli(["predict", "--model", str(tmp_path / "no-model"), str(_policy(tmp_path)), "-o", str(out)])
    assert_clean_failure(code, capsys.readouterr().err, "o.jsonl: cannot write (Read-only file system)", out)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        code = cli(
            ["predict", "--model", str(tmp_path / "m"), str(_policy(tmp_path)), "-o", str(folder / "o")]
        )
    finally:
        folder.chmod(0o755)
    assert code == 2 and "ro/o: cannot write (Permission denied)" in capsys.readouterr().err


def test_second_writer_of_an_output_is_refused(tiny_model: Path, tmp_path: Path, capsys) -> None:
    from clausetag.io import output_lock

    out = tmp_path / "o.jsonl"
    with output_lock(out):  # another run, mid-way
        code = cli(["predict", "--model", str(tiny_model), str(_policy(tmp_path)), "-o", str(out)])
        err = capsys.readouterr().err
    assert code == 2 and "o.jsonl: another clausetag run is writing this file" in err, err
    assert cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl", "p.txt"], "lock file left behind"


def test_stale_temp_files_of_a_killed_run_are_removed(tiny_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "o.jsonl"
    (tmp_path / ".o.jsonl.k1ll3d_x.tmp").write_text("half a record")
    (tmp_path / ".o.jsonl.keep").write_text("not ours")
    assert cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [".o.jsonl.keep", "o.jsonl", "p.txt"]


def test_sigterm_is_handled_like_ctrl_c(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from clausetag.inference.classifier import ClauseClassifier

    def killed(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[no-untyped-def]
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the handler interrupts this

    monkeypatch.setattr(ClauseClassifier, "predict", killed)
    before = signal.getsignal(signal.SIGTERM)
    out = tmp_path / "o.jsonl"
    out.write_text("previous\n")
    code = cli(["predict", "--model", str(tiny_model), "-q", str(_policy(tmp_path)), "-o", str(out)])
    assert code == 130 and "interrupted" in capsys.readouterr().err
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.jsonl", "p.txt"]
    assert signal.getsignal(signal.SIGTERM) == before  # the handler is the run's only


def test_sigterm_in_a_real_process_leaves_no_temp_file(tiny_model: Path, tmp_path: Path) -> None:
    data = tmp_path / "many.jsonl"
    data.write_text(
        "".join(json.dumps({"text": f"We keep unit {i} for years."}) + "\n" for i in range(50_000))
    )
    out = tmp_path / "o.jsonl"
    cmd = [
        sys.executable,
        "-m",
        "clausetag.cli",
        "predict",
        "--model",
        str(tiny_model),
        str(data),
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in iter(lambda: proc.stderr.read(1), ""):  # wait for the progress bar: tagging has begun
        if line == "%":
            break
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    assert proc.returncode == 130
    assert sorted(p.name for p in tmp_path.iterdir()) == ["many.jsonl"]


# --------------------------------------------------------------------------- issue 15: output content


def test_csv_cells_cannot_be_formulas_and_resume_reads_them_back(tiny_model: Path, tmp_path: Path) -> None:
    import csv

    texts = ['=HYPERLINK("http://x")', "+1+1", "-2+3", "@SUM(A1)", "\tTab", "'=quoted", "plain"]
    data = tmp_path / "units.jsonl"
    data.write_text("".join(json.dumps({"doc": "=evil", "text": t}) + "\n" for t in texts))
    out = tmp_path / "o.csv"
    assert cli(["predict", "--model", str(tiny_model), "-q", str(data), "-o", str(out), "--resume"]) == 0
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["text"] for r in rows] == ["'" + t for t in texts[:-1]] + ["plain"]
    assert {r["doc"] for r in rows} == {"'=evil"}
    assert cli(["predict", "--model", str(tiny_model), "-q", str(data), "-o", str(out), "--resume"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + len(texts)  # nothing tagged twice


def test_markdown_report_escapes_html(tiny_model: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text("We keep data for 5 years. <script>alert(1)</script> <img src=x onerror=alert(2)>")
    out = tmp_path / "r.md"
    assert cli(["report", "--model", str(tiny_model), "-q", str(policy), "-o", str(out)]) == 0
    md = out.read_text(encoding="utf-8")
    assert "<script>" not in md and "<img" not in md and "&lt;script&gt;" in md


def test_onnx_telemetry_is_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    onnxruntime = pytest.importorskip("onnxruntime")
    from clausetag.inference import cli as predict_cli
    from clausetag.inference.classifier import ClauseClassifier

    calls: list[str] = []
    monkeypatch.setattr(onnxruntime, "disable_telemetry_events", lambda: calls.append("off"))
    monkeypatch.setattr(ClauseClassifier, "from_pretrained", classmethod(lambda cls, path, backend: "clf"))
    assert predict_cli.load_classifier("m", "onnx") == "clf" and calls == ["off"]


def test_onnx_telemetry_is_off_before_any_python_api_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Python API path (no CLI): telemetry is turned off before the session exists."""
    onnxruntime = pytest.importorskip("onnxruntime")
    from clausetag.inference.backends import OnnxBackend
    from clausetag.inference.modeldir import ModelDir

    calls: list[str] = []

    class Session:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            calls.append("session")

        def get_inputs(self) -> list[Any]:
            return []

    monkeypatch.setattr(onnxruntime, "disable_telemetry_events", lambda: calls.append("off"))
    monkeypatch.setattr(onnxruntime, "InferenceSession", Session)
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"stand-in")
    OnnxBackend(ModelDir(tmp_path, ("a",), (0.5,), 8, {}), "onnx")
    assert calls == ["off", "session"]


# --------------------------------------------------------------------------- issue 15: ONNX files


def _fake_onnx(path: Path, width: int) -> None:
    """A one-node stand-in for an exported model: logits of ``width`` scores per text."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper, save

    weights = numpy_helper.from_array(np.ones((1, width), dtype=np.float32), "w")
    nodes = [
        helper.make_node("Cast", ["attention_mask"], ["m"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMean", ["m"], ["r"], keepdims=1, axes=[1]),
        helper.make_node("MatMul", ["r", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["b", "s"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["b", "s"]),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["b", width])],
        [weights],
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))


@pytest.fixture
def onnx_model(tiny_model: Path, tmp_path: Path) -> Path:
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    return model


def test_onnx_label_count_is_checked_at_load(onnx_model: Path) -> None:
    from clausetag.errors import ClausetagError
    from clausetag.inference import ClauseClassifier

    labels = json.loads((onnx_model / "config.json").read_text())["id2label"]
    _fake_onnx(onnx_model / "onnx" / "model.onnx", len(labels))
    assert len(ClauseClassifier.from_pretrained(onnx_model, backend="onnx").predict(["x"])[0].scores) == len(
        labels
    )
    _fake_onnx(onnx_model / "onnx" / "model.onnx", len(labels) + 2)
    with pytest.raises(ClausetagError, match=f"gives {len(labels) + 2} scores per text but config.json"):
        ClauseClassifier.from_pretrained(onnx_model, backend="onnx")


def test_corrupt_onnx_file_is_a_clausetag_error(onnx_model: Path) -> None:
    from clausetag.errors import ClausetagError
    from clausetag.inference import ClauseClassifier

    (onnx_model / "onnx").mkdir()
    (onnx_model / "onnx" / "model.onnx").write_bytes(b"\x08\x07garbage" * 10)
    with pytest.raises(ClausetagError, match="cannot load the model"):
        ClauseClassifier.from_pretrained(onnx_model, backend="onnx")


# --------------------------------------------------------------------------- issue 15: Python API


@pytest.fixture(scope="module")
def api(tiny_model: Path) -> Any:
    from clausetag.inference import ClauseClassifier

    return ClauseClassifier.from_pretrained(tiny_model)


API_CASES: dict[str, tuple[Callable[[Any], Any], str]] = {
    "predict(None)": (lambda c: c.predict(None), "expects a list of texts, not NoneType"),
    "predict(5)": (lambda c: c.predict(5), "expects a list of texts, not int"),
    "predict(b'bytes')": (lambda c: c.predict(b"x"), "not a single string"),
    "predict([None])": (lambda c: c.predict([None]), "item 0 is NoneType"),
    "predict(batch_size=-1)": (
        lambda c: c.predict(["x"], batch_size=-1),
        "batch_size must be a whole number",
    ),
    "predict(batch_size=0)": (lambda c: c.predict(["x"], batch_size=0), "batch_size must be a whole number"),
    "predict(batch_size=1.5)": (lambda c: c.predict(["x"], batch_size=1.5), "batch_size must be"),
    "predict(batch_size=True)": (lambda c: c.predict(["x"], batch_size=True), "batch_size must be"),
    "predict(threshold=nan)": (lambda c: c.predict(["x"], threshold=math.nan), "threshold must be a number"),
    "predict(threshold=-1)": (lambda c: c.predict(["x"], threshold=-1), "threshold must be in [0, 1]"),
    "predict(threshold=2)": (lambda c: c.predict(["x"], threshold=2), "threshold must be in [0, 1]"),
    "predict(threshold='0.5')": (lambda c: c.predict(["x"], threshold="0.5"), "threshold must be a number"),
    "predict([''])": (lambda c: c.predict(["x", ""]), "text 1 is empty"),
    "predict(['  '])": (lambda c: c.predict(["  \n"]), "text 0 is empty"),
    "predict(zero-width)": (lambda c: c.predict(["\u200b\u2060"]), "text 0 is empty"),
    "predict_proba(batch_size=-1)": (lambda c: c.predict_proba(["x"], batch_size=-1), "batch_size must be"),
    "tag_document(None)": (
        lambda c: c.tag_document(None),
        "expects the policy text as a string, not NoneType",
    ),
    "tag_document(threshold=nan)": (lambda c: c.tag_document("x", threshold=math.nan), "threshold must be"),
    "tag_document(batch_size=0)": (lambda c: c.tag_document("x", batch_size=0), "batch_size must be"),
    "tag_document(lang=5)": (lambda c: c.tag_document("x", lang=5), "lang must be"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_api_bad_arguments_raise_clausetag_error(case: str, api: Any) -> None:
    from clausetag.errors import ClausetagError

    call, expected = API_CASES[case]
    with pytest.raises(ClausetagError) as exc:
        call(api)
    assert expected in str(exc.value)


def test_api_accepts_any_iterable_of_strings(api: Any) -> None:
    texts = ["We keep data for 5 years.", "You can object."]
    expected = [p.scores for p in api.predict(texts)]
    assert [p.scores for p in api.predict(t for t in texts)] == expected
    assert [p.scores for p in api.predict(tuple(texts))] == expected
    assert [p.text for p in api.predict(iter(texts))] == texts
    assert api.tag_document("\u200b\n\ufeff\n") == []  # zero-width lines are no units


def test_from_pretrained_on_a_broken_tokenizer(tiny_model: Path, tmp_path: Path) -> None:
    from clausetag.errors import ClausetagError
    from clausetag.inference import ClauseClassifier

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model, ignore=shutil.ignore_patterns("onnx"))
    (model / "tokenizer.json").write_bytes(b"\x00\x01 not a tokenizer")
    with pytest.raises(ClausetagError, match=r"tokenizer\.json: looks like a binary file"):
        ClauseClassifier.from_pretrained(model)


# --------------------------------------------------------------------------- issue 15: readers


def test_max_bytes_is_enforced_while_reading_a_pipe(tiny_model: Path, tmp_path: Path, capsys) -> None:
    """A pipe has no size to stat: the limit holds while reading (as for /dev/zero)."""
    read_end, write_end = os.pipe()

    def feed() -> None:
        with contextlib.suppress(OSError), os.fdopen(write_end, "wb") as fh:
            for _ in range(64):
                fh.write(b"We keep data. " * 4096)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    out = tmp_path / "o.jsonl"
    try:
        code = cli(
            [
                "predict",
                "--model",
                str(tiny_model),
                f"/dev/fd/{read_end}",
                "--max-bytes",
                "100000",
                "-o",
                str(out),
            ]
        )
    finally:
        os.close(read_end)
        writer.join(timeout=10)
    assert_clean_failure(
        code, capsys.readouterr().err, f"/dev/fd/{read_end}: more than the 100.0 kB limit", out
    )


def test_read_limited_stops_an_endless_stream() -> None:
    from clausetag.errors import ClausetagError
    from clausetag.io import read_limited

    class Endless:
        def read(self, n: int) -> bytes:
            return b"a" * n

    with pytest.raises(ClausetagError, match=r"endless: more than the 1\.0 kB limit"):
        read_limited(Endless(), "endless", 1000)  # type: ignore[arg-type]


#: Inputs that took minutes (quadratic regex or tree building) and now take well under a second.
MARKUP_BOMBS: dict[str, tuple[str, str]] = {
    "200 000 nested <div>": ("html", "<div>" * 200_000 + "x" + "</div>" * 200_000),
    "nested <b> and <span>": ("html", "<b><span>" * 100_000 + "x"),
    "unclosed tags": ("html", "<a " * 200_000 + ">We keep data."),
    "markdown unclosed bold": ("md", "**a " * 200_000),
    "markdown unclosed links": ("md", "[a " * 200_000),
    "markdown unclosed image targets": ("md", "![a](" * 200_000),
    "markdown unclosed comments": ("md", "<!--" * 200_000),
    "markdown link definitions": ("md", "[a\n" * 200_000),
    "markdown heading of spaces": ("md", "# a" + " " * 400_000 + "b"),
    "segmenter etc. etc.": ("txt", "etc. A " * 200_000),
}


@pytest.mark.parametrize("case", list(MARKUP_BOMBS))
def test_markup_bombs_are_linear(case: str) -> None:
    from clausetag.inference.readers import plain_text
    from clausetag.inference.segment import segment

    kind, text = MARKUP_BOMBS[case]
    started = time.perf_counter()
    segment(plain_text(text, kind, case))
    assert time.perf_counter() - started < 10, "far from linear"


def test_deep_html_keeps_its_text() -> None:
    from clausetag.inference.markup import MAX_TREE_DEPTH, strip_html

    deep = MAX_TREE_DEPTH * 3
    html = "<div>" * deep + "<p>We keep data.</p>" + "</div>" * deep + "<h2>Rights</h2>"
    assert strip_html(html) == "We keep data.\n## Rights"


# --------------------------------------------------------------------------- issue 15: data validate


def test_data_validate_size_message_names_no_missing_option(tmp_path: Path, capsys) -> None:
    big = tmp_path / "big.jsonl"
    with big.open("wb") as fh:
        fh.truncate(25 * MB)
    assert cli(["data", "validate", str(big)]) == 2
    err = capsys.readouterr().err
    assert "is larger than the" in err and "--max-bytes" not in err and "split it" in err


def test_data_validate_catches_a_lone_surrogate(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "text": "\\ud800", "lang": "en", "labels": ["other"]}\n')
    assert cli(["data", "validate", str(bad)]) == 2
    assert "bad.jsonl:1: a string holds a lone surrogate" in capsys.readouterr().err


LABEL_FILE_CASES: dict[str, tuple[Maker, str]] = {
    "binary .json": (
        _write("labels.json", b"\x89PNG\r\n\x1a\n\x00\x00IHDR"),
        "labels.json: looks like a binary file",
    ),
    "binary .txt": (_write("labels.txt", bytes(range(256))), "labels.txt: looks like a binary file"),
    "not UTF-8": (_write("labels.txt", b"controller\ncaf\xe9\n"), "labels.txt: not valid UTF-8 (byte 0xe9"),
    "30 MB": (_sparse("labels.txt", 30 * MB), "labels.txt: 31.5 MB is larger than the 1.0 MB limit"),
    "/dev/zero": (_special("/dev/zero"), "/dev/zero: looks like a binary file"),
    "a directory": (_empty_dir, "empty-folder: is a directory, expected a file"),
    "missing": (lambda tmp: tmp / "nowhere.txt", "nowhere.txt: no such file"),
    "empty": (_write("labels.txt", b"\n \n"), "labels.txt: the file is empty"),
    "JSON nested 100 000 deep": (
        _write("labels.json", b"[" * 100_000 + b"]" * 100_000),
        "labels.json: expected a JSON array of label names",
    ),
    "JSON lone surrogate": (_write("labels.json", b'["a", "\\ud800"]'), "a string holds a lone surrogate"),
    "duplicated name with a newline": (
        _write("labels.json", b'["a\\nb", "a\\nb"]'),
        "duplicated labels: 'a\\nb'",
    ),
    "zero-width name": (
        _write("labels.txt", "a\n\u200b\u2060\n".encode()),
        "labels.txt: a label name is empty",
    ),
}


@pytest.mark.parametrize("case", list(LABEL_FILE_CASES))
def test_data_validate_bad_label_file(case: str, tmp_path: Path, capsys) -> None:
    make, expected = LABEL_FILE_CASES[case]
    data = tmp_path / "units.jsonl"
    data.write_text('{"id": "a", "text": "We keep data.", "lang": "en", "labels": ["retention"]}\n')
    assert cli(["data", "validate", str(data), "--labels", str(make(tmp_path))]) == 2
    err = capsys.readouterr().err
    assert err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1 and "Traceback" not in err


# --------------------------------------------------------------------------- issue 15: evaluate -o


def _earlier_report(tmp: Path) -> str:
    (tmp / "report").mkdir()
    (tmp / "report" / "metrics.json").write_text("earlier")
    return str(tmp / "report")


def _a_file(tmp: Path) -> str:
    (tmp / "old.txt").write_text("earlier")
    return str(tmp / "old.txt")


#: ``evaluate -o`` names a report folder; refused before the model loads (it does not even exist).
EVALUATE_OUTPUT_CASES: dict[str, tuple[Callable[[Path], str], list[str], str]] = {
    "an existing file": (_a_file, [], "old.txt: is a file; --output names a folder for the report"),
    "an existing file, --overwrite": (_a_file, ["--overwrite"], "old.txt: is a file"),
    "an earlier report": (
        _earlier_report,
        [],
        "report: already holds a report (metrics.json); pass --overwrite",
    ),
    "an empty path": (lambda tmp: "", [], "the output path is empty"),
    "a symlink loop": (_out_loop, [], "loop.jsonl: cannot use as output (Too many levels of symbolic links)"),
    "a path below a regular file": (_out_below_file, [], "o.jsonl: cannot use as output (Not a directory)"),
}


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not p.is_symlink()
    }


@pytest.mark.parametrize("flag", ["-o", "--output", "--out"])
@pytest.mark.parametrize("case", list(EVALUATE_OUTPUT_CASES))
def test_evaluate_output_is_refused_before_any_work(case: str, flag: str, tmp_path: Path, capsys) -> None:
    make, extra, expected = EVALUATE_OUTPUT_CASES[case]
    output = make(tmp_path)
    before = _tree(tmp_path)
    code = cli(["evaluate", "--model", str(tmp_path / "no-model"), "--data", "x.jsonl", flag, output, *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("clausetag: error: ") and expected in err, err
    assert err.count("\n") == 1 and "model directory not found" not in err
    assert _tree(tmp_path) == before, "nothing replaced, nothing added"


def test_evaluate_report_is_written_whole_or_not_at_all(
    tiny_model: Path, small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from clausetag.training import evaluation

    data = tmp_path / "few.jsonl"
    data.write_text("".join(small_corpus.read_text(encoding="utf-8").splitlines(keepends=True)[:40]))
    report = tmp_path / "report"
    args = [
        "evaluate",
        "--model",
        str(tiny_model),
        "--data",
        str(data),
        "--bootstrap",
        "5",
        "-o",
        str(report),
    ]
    assert cli(args) == 0
    first = _tree(report)
    assert sorted(first) == sorted(evaluation.REPORT_FILES)

    def full(*a: Any) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(evaluation, "plot_confusion", full)  # the last file fails: none is replaced
    assert cli([*args, "--overwrite"]) == 2
    assert "report: cannot write (No space left on device)" in capsys.readouterr().err
    assert _tree(report) == first and sorted(p.name for p in report.iterdir()) == sorted(first)
    fresh = tmp_path / "fresh"
    assert cli([*args[:-1], str(fresh)]) == 2 and not fresh.exists()
    monkeypatch.undo()
    (report / "notes.txt").write_text("mine")
    assert cli([*args, "--overwrite", "--bootstrap", "7"]) == 0
    assert json.loads((report / "metrics.json").read_text())["n"] == 40
    assert (report / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in report.iterdir()) == sorted([*first, "notes.txt"])
