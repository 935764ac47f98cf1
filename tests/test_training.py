"""Train → save → reload → evaluate with the tiny model, plus the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from helpers import tiny_train_argv

from clausetag.cli import main as cli
from clausetag.labels import DEFAULT_LABELS


def test_model_directory_is_the_contract(tiny_model: Path) -> None:
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    assert [config["id2label"][str(i)] for i in range(len(DEFAULT_LABELS))] == list(DEFAULT_LABELS)
    thresholds = json.loads((tiny_model / "thresholds.json").read_text())["thresholds"]
    assert list(thresholds) == list(DEFAULT_LABELS)
    assert all(0.0 < t < 1.0 for t in thresholds.values())
    for name in ("model.safetensors", "tokenizer.json", "README.md", "training_args.json"):
        assert (tiny_model / name).is_file(), name
    assert not list(tiny_model.glob("*.bin")), "no pickled files in a model directory"
    assert not list(tiny_model.glob("checkpoint-*"))
    card = (tiny_model / "README.md").read_text()
    assert card.startswith("---\nlanguage:\n- en\n- lv\n")
    assert "| lv |" in card and "| en |" in card


def test_plain_transformers_pipeline_loads_it(tiny_model: Path) -> None:
    from transformers import pipeline

    pipe = pipeline("text-classification", model=str(tiny_model), top_k=None)
    out = pipe(["We keep your data for five years."])[0]
    assert {d["label"] for d in out} == set(DEFAULT_LABELS)
    assert all(0.0 <= d["score"] <= 1.0 for d in out)


def test_pipeline_in_a_fresh_interpreter_after_importing_the_head(tiny_model: Path) -> None:
    """A fresh interpreter that imports the mean-pooling head's module loads the model in a pipeline too
    (the README tells pipeline users to ``import clausetag``, which registers the same class)."""
    import subprocess
    import sys

    code = (
        "import clausetag.models.modeling\n"
        "from transformers import pipeline\n"
        f"pipe = pipeline('text-classification', model={str(tiny_model)!r}, top_k=None)\n"
        "print(len(pipe(['We keep your data for five years.'])[0]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == str(len(DEFAULT_LABELS))


def test_same_command_twice_gives_same_metrics(
    tiny_encoder: Path, small_corpus: Path, tmp_path: Path
) -> None:
    reports = []
    for name in ("a", "b"):
        out = tmp_path / name
        argv = [
            "train",
            *tiny_train_argv(
                tiny_encoder, small_corpus, out, "--num_train_epochs", "1", "--max_length", "32"
            ),
        ]
        assert cli(argv) == 0
        reports.append(json.loads((out / "metrics.json").read_text())["dev"])
    assert reports[0]["macro_f1"] == reports[1]["macro_f1"]
    assert reports[0]["per_label"] == reports[1]["per_label"]


def test_evaluate_writes_report(tiny_model: Path, small_corpus: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "report"
    assert (
        cli(
            [
                "evaluate",
                "--model",
                str(tiny_model),
                "--data",
                str(small_corpus),
                "--json",
                "--out",
                str(out),
                "--bootstrap",
                "50",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert {"micro_f1", "macro_f1", "per_language"} <= set(report)
    assert set(report["per_language"]) == {"en", "lv"}
    for lang in ("en", "lv"):
        assert {"macro_f1", "micro_f1"} <= set(report["per_language"][lang])
    lo, hi = report["macro_f1_ci95"]
    assert lo <= report["macro_f1"] <= hi
    for name in ("metrics.json", "report.md", "per_label_f1.png", "label_confusion.png"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "per_label_f1.png").read_bytes()[:4] == b"\x89PNG"


def test_refuses_to_overwrite(tiny_model: Path, small_corpus: Path, tiny_encoder: Path, capsys) -> None:
    code = cli(["train", *tiny_train_argv(tiny_encoder, small_corpus, tiny_model)])
    assert code == 2
    assert "already exists" in capsys.readouterr().err


def test_missing_default_encoder_is_a_clear_message(
    tmp_path: Path, small_corpus: Path, capsys, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default encoder path is relative: absent here
    code = cli(["train", "--train_file", str(small_corpus), "--output_dir", str(tmp_path / "m")])
    assert code == 2
    assert "clausetag encoder build" in capsys.readouterr().err


def test_empty_split_and_foreign_labels(
    tiny_encoder: Path, small_corpus: Path, tmp_path: Path, capsys
) -> None:
    code = cli(
        ["train", *tiny_train_argv(tiny_encoder, small_corpus, tmp_path / "m", "--train_languages", "de")]
    )
    assert code == 2
    assert "train split is empty" in capsys.readouterr().err
    labels = tmp_path / "labels.txt"
    labels.write_text("first\nsecond\n")
    code = cli(
        ["train", *tiny_train_argv(tiny_encoder, small_corpus, tmp_path / "m2", "--labels", str(labels))]
    )
    assert code == 2
    assert "unknown label" in capsys.readouterr().err


def test_custom_label_scheme_end_to_end(tiny_encoder: Path, tmp_path: Path) -> None:
    """A researcher's own labels (here two made-up ones) train and evaluate unchanged."""
    rows = [
        {
            "text": f"We store cookies number {i}.",
            "lang": "en",
            "labels": ["Tracking"],
            "doc": f"d{i % 3}",
        }
        for i in range(30)
    ]
    rows += [
        {
            "text": f"You may delete your account {i}.",
            "lang": "en",
            "labels": ["Access"],
            "doc": f"d{i % 3}",
        }
        for i in range(30)
    ]
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "labels.json").write_text(json.dumps(["Tracking", "Access"]))
    out = tmp_path / "model"
    assert (
        cli(
            [
                "train",
                "--model_name_or_path",
                str(tiny_encoder),
                "--train_file",
                str(data),
                "--dev_docs",
                "d0",
                "--output_dir",
                str(out),
                "--num_train_epochs",
                "1",
                "--disable_tqdm",
                "true",
            ]
        )
        == 0
    )
    config = json.loads((out / "config.json").read_text())
    assert config["id2label"] == {"0": "Tracking", "1": "Access"}
    from clausetag.inference import ClauseClassifier

    proba = ClauseClassifier.from_pretrained(out).predict_proba(["We store cookies."])
    assert proba.shape == (1, 2) and np.all((proba >= 0) & (proba <= 1))


def test_freeze_encoder_trains_only_the_head(tiny_encoder: Path, small_corpus: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    out = tmp_path / "probe"
    argv = tiny_train_argv(
        tiny_encoder,
        small_corpus,
        out,
        "--num_train_epochs",
        "1",
        "--freeze_encoder",
        "true",
        "--max_length",
        "32",
    )
    assert cli(["train", *argv]) == 0
    before = load_file(str(tiny_encoder / "model.safetensors"))
    after = load_file(str(out / "model.safetensors"))
    layer = "encoder.layer.0.attention.self.query.weight"
    assert (after["bert." + layer] == before[layer]).all()
    assert not (after["bert.pooler.dense.weight"] == before["pooler.dense.weight"]).all()  # the head trained


def test_probe_head_starts_from_a_working_classifier(tiny_encoder: Path, small_corpus: Path) -> None:
    """Before any fine-tuning, the probe-initialised head beats the random head on its own data."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from clausetag.data.corpus import label_matrix, load_units
    from clausetag.training.metrics import macro_f1, tune_thresholds
    from clausetag.training.probe import init_head_from_probe
    from clausetag.training.trainer import positive_weights, predict_proba

    units = load_units(small_corpus)[:300]
    labels = [*DEFAULT_LABELS, "never_seen"]  # a label without positives gets a confident "no"
    y = label_matrix(units, labels)
    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder)

    def train_f1(model: object) -> float:
        proba = predict_proba(model, tokenizer, units, 64)
        return macro_f1(y, proba >= tune_thresholds(y, proba))

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_encoder, num_labels=len(labels)).eval()
    random_f1 = train_f1(model)
    init_head_from_probe(model, tokenizer, units, y, positive_weights(y, 10.0), 1.0, 64)  # probe_c
    dense = model.bert.pooler.dense.weight.detach()
    assert torch.equal(dense, torch.diag(torch.diagonal(dense))) and (torch.diagonal(dense) > 0).all()
    assert model.classifier.bias[-1].item() == -4.0
    probe_f1 = train_f1(model)
    assert probe_f1 > random_f1 + 0.1, (random_f1, probe_f1)


def test_probe_leaves_an_unknown_head_alone(caplog) -> None:
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification

    from clausetag.training.probe import init_head_from_probe
    from clausetag.training.trainer import positive_weights

    config = DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32, num_labels=2)
    model = DistilBertForSequenceClassification(config)
    before = model.classifier.weight.detach().clone()
    y = np.array([[1, 0], [0, 1]])
    init_head_from_probe(model, None, [], y, positive_weights(y, 10.0), 1.0, 16)
    assert torch.equal(model.classifier.weight, before)
    assert "keeping its random initialisation" in caplog.text  # a warning of the library's logger


# --------------------------------------------------------------------------- arguments, writer, ranks


def test_arguments_are_checked_before_any_data_is_read(tmp_path: Path, capsys) -> None:
    """A config file's values meet the same checks as flags, before the (missing) data is touched."""
    import pytest

    from clausetag.errors import ClausetagError
    from clausetag.training.args import ClausetagTrainingArguments

    with pytest.raises(ClausetagError, match="--loss must be one of weighted_bce, bce, focal"):
        ClausetagTrainingArguments(output_dir=str(tmp_path / "m"), loss="nope")  # type: ignore[arg-type]
    config = tmp_path / "run.json"
    config.write_text(json.dumps({"train_file": str(tmp_path / "absent.jsonl"), "pooling": "max"}))
    assert cli(["train", str(config)]) == 2
    err = capsys.readouterr().err
    assert "--pooling must be one of mean, cls, not 'max'" in err and "absent.jsonl" not in err


def test_the_recipe_defaults_are_named_once() -> None:
    from typing import get_args

    from clausetag.training import args
    from clausetag.training.thresholds import TRAIN_POLICIES

    assert get_args(args.ThresholdPolicy) == TRAIN_POLICIES
    model_args = args.ModelArguments()
    training_args = args.ClausetagTrainingArguments(output_dir="x")
    assert (model_args.pooling, training_args.head_init, training_args.threshold_policy) == (
        args.DEFAULT_POOLING,
        args.DEFAULT_HEAD_INIT,
        args.DEFAULT_THRESHOLD_POLICY,
    )
    assert training_args.num_train_epochs == args.DEFAULT_EPOCHS


def test_other_ranks_get_an_explicit_none_and_write_nothing(
    tiny_encoder: Path, small_corpus: Path, tmp_path: Path, monkeypatch
) -> None:
    """Under torchrun only rank 0 tunes, scores and saves; the others get None, not a placeholder."""
    from transformers import Trainer

    from clausetag.training.args import parse_args
    from clausetag.training.train import load_splits, run_training

    out = tmp_path / "rank1"
    argv = tiny_train_argv(tiny_encoder, small_corpus, out, "--num_train_epochs", "1", "--max_length", "32")
    args = parse_args([*argv, "--head_init", "random"])
    splits = load_splits(args.data, args.training.seed)
    monkeypatch.setattr(Trainer, "is_world_process_zero", lambda self: False)
    assert run_training(splits._replace(train=splits.train[:64], dev=splits.dev[:32]), args) is None
    assert not (out / "thresholds.json").exists()


def test_model_directory_is_checked_before_it_replaces_the_old_one(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    import pytest

    from clausetag.errors import ClausetagError
    from clausetag.inference.modeldir import ModelDir, model_dir_writer

    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    before = sorted(p.name for p in target.iterdir())
    with pytest.raises(ClausetagError, match=r"missing thresholds\.json"), model_dir_writer(target) as folder:
        for name in before:
            if name != "thresholds.json" and (target / name).is_file():
                shutil.copy(target / name, folder / name)
    assert sorted(p.name for p in target.iterdir()) == before  # untouched
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folder left
    with model_dir_writer(target) as folder:
        shutil.copytree(tiny_model, folder, dirs_exist_ok=True)
        (folder / "extra.txt").write_text("new")
    assert ModelDir.open(target).labels == ModelDir.open(tiny_model).labels
    assert (target / "extra.txt").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_model_directory_writer_refuses_a_broken_ngram_member(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    import pytest

    from clausetag.errors import ClausetagError
    from clausetag.inference.modeldir import model_dir_writer

    assert (tiny_model / "ngram" / "config.json").is_file()
    target = tmp_path / "model"
    with pytest.raises(ClausetagError, match="ngram"), model_dir_writer(target) as folder:
        shutil.copytree(tiny_model, folder, dirs_exist_ok=True)
        (folder / "ngram" / "config.json").write_text('{"format": "nonsense"}', encoding="utf-8")
    assert list(tmp_path.iterdir()) == []  # nothing written, no temporary folder left


def test_classifier_save_pretrained_copies_the_directory_through_the_checked_writer(
    tiny_model: Path, tmp_path: Path
) -> None:
    import pytest

    from clausetag.errors import ClausetagError
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(tiny_model)
    target = tmp_path / "copy"
    clf.save_pretrained(target)
    again = ClauseClassifier.from_pretrained(target)
    texts = ["We keep your e-mail address for two years.", "You may complain to the authority."]
    assert again.predict(texts) == clf.predict(texts)
    assert (target / "ngram" / "config.json").is_file()  # the whole directory, the n-gram member too
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in tiny_model.iterdir())
    with pytest.raises(ClausetagError, match="exists"):
        clf.save_pretrained(target)
    clf.save_pretrained(target, overwrite=True)
    with pytest.raises(ClausetagError, match="model directory itself"):
        clf.save_pretrained(tiny_model, overwrite=True)
    assert [p.name for p in tmp_path.iterdir()] == ["copy"]  # no temporary folder left
