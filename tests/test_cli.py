"""The command line: the dispatcher, ``python -m clausetag``, and one option vocabulary everywhere."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import corpus_units, tiny_train_argv

from clausetag import __version__
from clausetag.cli import COMMANDS, missing_extra_message, run
from clausetag.cli import main as cli
from clausetag.errors import ClausetagError

# --------------------------------------------------------------------------- the dispatcher


@pytest.mark.parametrize("flag", ["--help", "-h", "help"])
def test_help_lists_every_command(flag: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([flag]) == 0
    out = capsys.readouterr().out
    assert "usage: clausetag <command>" in out
    for name in COMMANDS:
        assert f"  {name} " in out, name


def test_no_arguments_prints_usage_and_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli([]) == 2
    assert "usage: clausetag <command>" in capsys.readouterr().out


def test_unknown_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["frobnicate", "--x"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("clausetag: error: unknown command 'frobnicate'")
    assert "usage: clausetag <command>" in captured.err
    assert captured.out == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"clausetag {__version__}"


def test_console_entry_point_runs() -> None:
    """`python -m clausetag.cli` is what the `clausetag` script calls."""
    ok = subprocess.run([sys.executable, "-m", "clausetag.cli", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "commands:" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "clausetag.cli", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command 'nope'" in bad.stderr


@pytest.mark.parametrize(
    ("module", "hint"),
    [
        ("datasets", "pip install 'clausetag[train]'"),
        ("sklearn.metrics", "pip install 'clausetag[train]'"),
        ("torch", "pip install 'clausetag[torch]'"),
        ("onnxruntime", "pip install 'clausetag[onnx]'"),
        ("onnxscript", "pip install 'clausetag[export]'"),
        ("selectolax", "pip install 'clausetag[html]'"),
        ("somethingelse", "pip install somethingelse"),
    ],
)
def test_missing_extra_message(module: str, hint: str) -> None:
    message = missing_extra_message(ModuleNotFoundError(f"No module named '{module}'", name=module))
    assert message.endswith(hint)
    assert f"'{module.split('.')[0]}'" in message


def test_missing_optional_dependency_becomes_an_install_hint(capsys: pytest.CaptureFixture[str]) -> None:
    def needs_datasets(argv: list[str]) -> int:
        raise ModuleNotFoundError("No module named 'datasets'", name="datasets")

    assert run(needs_datasets, []) == 2
    err = capsys.readouterr().err
    assert err.startswith("clausetag: error: ") and "pip install 'clausetag[train]'" in err

    def broken_import(argv: list[str]) -> int:
        raise ModuleNotFoundError("No module named 'clausetag_typo'", name="clausetag_typo")

    with pytest.raises(ModuleNotFoundError):  # a bug, not a missing extra: not hidden
        run(broken_import, [])


def test_user_errors_exit_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    def refuses(argv: list[str]) -> int:
        raise ClausetagError("something the user can fix")

    assert run(refuses, []) == 2
    assert capsys.readouterr().err == "clausetag: error: something the user can fix\n"


def test_python_dash_m_clausetag_works_like_the_command(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "clausetag", "--help"], capture_output=True, text=True)
    assert ok.returncode == 0 and "commands:" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "clausetag", "nope"], capture_output=True, text=True)
    assert bad.returncode == 2 and "unknown command 'nope'" in bad.stderr
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"text": "We keep data.", "lang": "en", "labels": ["retention"]}) + "\n")
    done = subprocess.run(
        [sys.executable, "-m", "clausetag", "data", "validate", str(data)], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.startswith("ok: 1 units")


# --------------------------------------------------------------------------- one option vocabulary

#: Every command that writes a file or folder, as its --help is reached.
WRITERS = [
    ["encoder", "build"],
    ["data", "import-opp115"],
    ["evaluate"],
    ["baseline"],
    ["experiment"],
    ["predict"],
    ["report"],
]


def _help(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        cli([*argv, "--help"])
    assert exc.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("argv", WRITERS, ids=" ".join)
def test_every_writer_takes_dash_o_output_and_hides_old_spellings(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    text = _help(argv, capsys)
    assert "-o PATH, --output PATH" in text or "-o DIR, --output DIR" in text, text
    for old in ("--out ", "--out\n", "--output_dir", "--force", "--batch_size"):
        assert old not in text, (old, text)


@pytest.mark.parametrize("argv", [["evaluate"], ["predict"], ["report"]], ids=" ".join)
def test_backend_choices_and_batch_size_are_shared(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    from clausetag.inference.backends import BACKENDS

    text = _help(argv, capsys)
    assert "--backend {" + ",".join(BACKENDS) + "}" in text
    assert "--batch-size BATCH_SIZE" in text
    with pytest.raises(SystemExit) as exc:
        cli([*argv, "--batch-size", "0"])
    assert exc.value.code == 2 and "must be at least 1" in capsys.readouterr().err


def test_old_spellings_still_parse() -> None:
    from clausetag.options import add_batch_size, add_output, add_overwrite

    parser = argparse.ArgumentParser()
    add_output(parser, "where", required=True)
    add_overwrite(parser)
    add_batch_size(parser)
    old = parser.parse_args(["--out", "a", "--force", "--batch_size", "3"])
    new = parser.parse_args(["-o", "a", "--overwrite", "--batch-size", "3"])
    assert vars(old) == vars(new) == {"output": "a", "overwrite": True, "batch_size": 3}
    assert parser.parse_args(["--output_dir", "a"]).output == "a"


def test_add_option_lists_one_name_and_parses_the_old_ones() -> None:
    from clausetag.options import add_option

    parser = argparse.ArgumentParser()
    add_option(parser, "--dev-docs", "--dev_docs", nargs="+", default=None, help="held out")
    assert (
        parser.parse_args(["--dev_docs", "a", "b"]).dev_docs
        == parser.parse_args(["--dev-docs", "a", "b"]).dev_docs
    )
    listed = parser.format_help()
    assert "--dev-docs" in listed and "--dev_docs" not in listed


def test_encoder_build_old_and_new_spellings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An already built folder is kept: both spellings reach the same check, no build runs."""
    built = tmp_path / "enc"
    built.mkdir()
    (built / "clausetag_encoder.json").write_text("{}")
    (built / "model.safetensors").write_bytes(b"x")
    for flag in ("-o", "--output", "--out"):
        assert cli(["encoder", "build", flag, str(built)]) == 0
        assert "already built" in capsys.readouterr().out


def test_train_takes_dash_o_as_output_dir() -> None:
    from clausetag.training.args import parse_args

    for flag in ("-o", "--output", "--output_dir"):
        _, _, training_args = parse_args([flag, "somewhere"])
        assert training_args.output_dir == "somewhere"


# --------------------------------------------------------------------------- CLAUSETAG_ENCODER


def test_clausetag_encoder_is_the_default_of_build_and_train(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from clausetag.models.encoder import default_encoder_dir
    from clausetag.training.args import parse_args

    shared = tmp_path / "shared-encoder"
    monkeypatch.setenv("CLAUSETAG_ENCODER", str(shared))
    assert default_encoder_dir() == shared
    _, model_args, _ = parse_args([])
    assert model_args.model_name_or_path == str(shared)
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(u) + "\n" for u in corpus_units()[:40]))
    assert cli(["train", "--train_file", str(data), "--dev_file", str(data), "-o", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert f"$CLAUSETAG_ENCODER {shared} does not exist" in err and "clausetag encoder build" in err


def test_model_card_names_the_built_encoder_wherever_it_lives(tmp_path: Path) -> None:
    from clausetag.models.encoder import E5_HUB_ID, base_model_id

    folder = tmp_path / "anywhere"
    folder.mkdir()
    assert base_model_id(folder) == str(folder)
    (folder / "clausetag_encoder.json").write_text("{}")
    assert base_model_id(folder) == E5_HUB_ID


# --------------------------------------------------------------------------- a researcher's own JSONL


def _researchers_file(path: Path) -> Path:
    """Corpus rows with a `source` of the researcher's own and fields clausetag does not know."""
    rows = []
    for i, u in enumerate(u for u in corpus_units() if u["doc"] in {"000", "001", "004"}):
        rows.append(
            {
                "text": u["text"],
                "lang": u["lang"],
                "labels": u["labels"],
                "doc": u["doc"],
                "source": f"https://example.org/policy/{u['doc']}#p{i}",
                "annotator": "rk",
                "meta": {"round": 2, "flags": ["checked"]},
            }
        )
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_a_researchers_own_fields_are_kept_untouched(tmp_path: Path) -> None:
    from clausetag.data.corpus import load_units, public
    from clausetag.labels import DEFAULT_LABELS

    data = _researchers_file(tmp_path / "mine.jsonl")
    units = load_units(data, DEFAULT_LABELS)  # validated: no complaint about `source`
    first = json.loads(data.read_text(encoding="utf-8").splitlines()[0])
    assert public(units[0]) == {**first, "id": "mine:1"}


def test_baseline_train_and_evaluate_accept_a_researchers_jsonl(
    tiny_encoder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _researchers_file(tmp_path / "mine.jsonl")
    assert cli(["data", "validate", str(data)]) == 0
    assert cli(["baseline", "--data", str(data), "--dev-docs", "004", "-o", str(tmp_path / "b")]) == 0
    assert (tmp_path / "b" / "metrics.json").is_file()
    model = tmp_path / "model"
    argv = tiny_train_argv(tiny_encoder, data, model, "--num_train_epochs", "1", "--max_length", "32")
    assert cli(["train", *argv]) == 0
    capsys.readouterr()
    assert cli(["evaluate", "--model", str(model), "--data", str(data), "--json", "--bootstrap", "10"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == len(data.read_text(encoding="utf-8").splitlines())
