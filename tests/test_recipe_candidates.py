"""The recipe study's extra candidates: layer-wise LR decay, a contrastive stage, self-training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import train_tiny_model


def test_layer_depth_counts_from_the_top_layer_down_to_the_embeddings() -> None:
    from clausetag.training.trainer import layer_depth

    assert layer_depth("bert.encoder.layer.11.output.dense.weight", 12) == 0
    assert layer_depth("bert.encoder.layer.0.attention.self.query.weight", 12) == 11
    assert layer_depth("bert.embeddings.word_embeddings.weight", 12) == 12
    assert layer_depth("bert.pooler.dense.weight", 12) == 0


def test_contrastive_pairs_follow_label_overlap() -> None:
    from clausetag.training.contrastive import jaccard, sample_pairs

    y = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1], [0, 0, 1]])
    pairs = sample_pairs(y, 200, seed=0)
    assert len(pairs) == 200
    for n, (i, j, target) in enumerate(pairs):
        assert target == pytest.approx(jaccard(y[i], y[j]))
        if n % 2 == 0 and i in (0, 1):  # a label set two units share: the other one, never itself
            assert {i, j} == {0, 1} and target == 1.0
    assert jaccard(y[2], y[3]) == pytest.approx(0.5) and jaccard(y[0], y[2]) == 0.0


def test_pseudo_labels_keep_only_units_sure_of_every_label() -> None:
    from clausetag.training.experiments import pseudo_labelled

    units = [{"id": str(k), "text": f"t{k}", "labels": ["a"], "lang": "en", "doc": "d"} for k in range(3)]
    proba = np.array([[0.95, 0.02], [0.95, 0.5], [0.05, 0.03]])
    out = pseudo_labelled(units, proba, ["a", "b"], 0.9)
    assert [u["id"] for u in out] == ["0"]  # unit 1 is unsure of b, unit 2 has no confident label
    assert out[0]["labels"] == ["a"] and units[0]["labels"] == ["a"]


def test_training_with_layer_decay_and_a_contrastive_stage_saves_a_working_model(
    tiny_encoder: Path, small_corpus: Path, tmp_path: Path
) -> None:
    from clausetag.inference import ClauseClassifier

    out = train_tiny_model(
        tiny_encoder,
        small_corpus,
        tmp_path / "m",
        "--layerwise_lr_decay", "0.8", "--contrastive_pairs", "64", "--ngram_member", "false",
    )  # fmt: skip
    args = json.loads((out / "training_args.json").read_text(encoding="utf-8"))["training"]
    assert args["layerwise_lr_decay"] == 0.8 and args["contrastive_pairs"] == 64
    proba = ClauseClassifier.from_pretrained(out).predict_proba(["We keep your data for two years."])
    assert proba.shape[0] == 1 and np.isfinite(proba).all()


@pytest.mark.parametrize(
    ("flag", "value"),
    [("--layerwise_lr_decay", "1.5"), ("--layerwise_lr_decay", "0"), ("--contrastive_pairs", "-1")],
)
def test_bad_recipe_flags_are_refused_by_name(flag: str, value: str) -> None:
    from clausetag.errors import ClausetagError
    from clausetag.training.args import parse_args

    with pytest.raises(ClausetagError, match=flag.lstrip("-")):
        parse_args([flag, value])


def test_self_training_rows_run_in_the_study(tiny_encoder: Path, small_corpus: Path, tmp_path: Path) -> None:
    from clausetag.training.experiments.recipes import main

    units = [json.loads(x) for x in small_corpus.read_text(encoding="utf-8").splitlines()]
    keep = [u for u in units if u["source"] == "seed"][::4]
    ids = {u["id"] for u in keep}
    keep += [u for u in units if u.get("orig") in ids]
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in keep), encoding="utf-8")
    argv = ["--data", str(data), "--encoder", str(tiny_encoder), "--inner-folds", "2", "--folds", "000"]
    argv += ["--rows", "tfidf-self", "probe-mean-self", "ensemble-self", "-o", str(tmp_path / "out")]
    assert main(argv) == 0
    rows = json.loads((tmp_path / "out" / "recipes.json").read_text(encoding="utf-8"))["rows"]
    assert list(rows) == ["tfidf-self", "probe-mean-self", "ensemble-self"]
    assert all(0.0 <= p["macro_f1"] <= 1.0 for r in rows.values() for p in r["policies"].values())
