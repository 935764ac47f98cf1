"""`clausetag distill`: a student with fewer layers is a normal model directory that keeps the
teacher's recipes; bad arguments are one message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import SEEDS

from clausetag.cli import main as cli
from clausetag.inference import ClauseClassifier, ModelDir
from clausetag.training.distill import layer_choice


@pytest.fixture(scope="module")
def student(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("student") / "student"
    argv = [
        "distill",
        "--teacher",
        str(tiny_model),
        "-o",
        str(out),
        "--layers",
        "1",
        "--num_train_epochs",
        "1",
    ]
    assert cli([*argv, "--unlabelled", str(SEEDS / "002_7ef7d95ce0c993f9.txt")]) == 0
    return out


def test_layer_choice_keeps_first_and_last_evenly_spaced() -> None:
    assert layer_choice(12, 6) == [0, 2, 4, 7, 9, 11]
    assert layer_choice(12, 4) == [0, 4, 7, 11]
    assert layer_choice(12, 12) == list(range(12))
    assert layer_choice(2, 1) == [1]


def test_student_is_a_model_directory_with_the_teachers_recipes(tiny_model: Path, student: Path) -> None:
    teacher, pupil = ModelDir.open(tiny_model), ModelDir.open(student)
    assert pupil.labels == teacher.labels
    assert pupil.config["num_hidden_layers"] == 1 < teacher.config["num_hidden_layers"]
    for key in ("text_prefix", "model_type", "hidden_size"):
        assert pupil.config.get(key) == teacher.config.get(key)
    assert pupil.context == teacher.context and pupil.max_length == teacher.max_length
    assert (student / "ngram").is_dir() == (tiny_model / "ngram").is_dir()
    record = json.loads((student / "training_args.json").read_text(encoding="utf-8"))
    assert record["teacher"]["layers"] == [teacher.config["num_hidden_layers"] - 1]
    assert record["counts"]["unlabelled"] > 20  # the seed policy's units, read as unlabelled text
    assert not list(student.rglob("*.bin")) and not list(student.rglob("*.pt"))  # no pickles
    clf = ClauseClassifier.from_pretrained(student)
    proba = clf.predict_proba(["We keep invoices for 5 years.", "Jūs varat iesniegt sūdzību."])
    assert proba.shape == (2, len(teacher.labels)) and ((proba >= 0) & (proba <= 1)).all()
    assert "distilled student" in (student / "README.md").read_text(encoding="utf-8")


def test_student_exports_to_onnx(student: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "s"
    shutil.copytree(student, folder)
    assert cli(["export-onnx", "--model", str(folder)]) == 0
    clf = ClauseClassifier.from_pretrained(folder, backend="onnx")
    torch_clf = ClauseClassifier.from_pretrained(folder)
    texts = ["Contact our data protection officer.", "Dati tiek glabāti 5 gadus."]
    assert abs(clf.predict_proba(texts) - torch_clf.predict_proba(texts)).max() < 1e-3


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--layers", "0"], "--layers must be a whole number of at least 1"),
        (["--layers", "99"], "--layers must be from 1 to the teacher's"),
        (["--gold_weight", "2"], "--gold_weight must be from 0 to 1"),
        (["--unlabelled", "/no/such/folder"], "/no/such/folder: no such file or directory"),
        (["--no_such_flag", "1"], "clausetag distill --help"),
    ],
)
def test_bad_arguments_are_one_message(
    tiny_model: Path, tmp_path: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert cli(["distill", "--teacher", str(tiny_model), "-o", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not out.exists()  # nothing half-written


def test_a_folder_that_is_not_a_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "teacher").mkdir()
    assert cli(["distill", "--teacher", str(tmp_path / "teacher"), "-o", str(tmp_path / "o")]) == 2
    assert "config.json" in capsys.readouterr().err
