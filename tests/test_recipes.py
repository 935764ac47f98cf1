"""`clausetag experiment recipes`: LODO rows × threshold policies, folds kept for reruns."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from clausetag.training.thresholds import POLICIES, TRAIN_POLICIES, choose_thresholds


@pytest.fixture(scope="module")
def tiny_study_data(small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every third unit of the small corpus (three real documents), as a quick LODO."""
    units = [json.loads(x) for x in small_corpus.read_text(encoding="utf-8").splitlines()]
    keep = [u for u in units if u["source"] == "seed"][::3]
    ids = {u["id"] for u in keep}
    keep += [u for u in units if u.get("orig") in ids]
    path = tmp_path_factory.mktemp("study") / "data.jsonl"
    path.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in keep), encoding="utf-8")
    return path


def test_recipe_study_scores_every_row_and_policy_and_reuses_folds(
    tiny_encoder: Path, tiny_study_data: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from clausetag.training.experiments.recipes import main

    argv = ["--data", str(tiny_study_data), "--encoder", str(tiny_encoder), "--inner-folds", "2"]
    argv += ["--rows", "tfidf", "probe-mean", "ensemble", "-o", str(tmp_path)]
    assert main(argv) == 0
    data = json.loads((tmp_path / "recipes.json").read_text(encoding="utf-8"))
    assert data["folds"] == ["000", "001", "004"]
    assert list(data["rows"]) == ["tfidf", "probe-mean", "ensemble"]
    for row in data["rows"].values():
        assert set(row["policies"]) == set(POLICIES)
        for fig in row["policies"].values():
            assert 0.0 <= fig["macro_f1"] <= 1.0 and set(fig["per_language"]) == {"en", "lv"}
    table = (tmp_path / "recipes.md").read_text(encoding="utf-8")
    assert table.count("| tfidf |") == len(POLICIES)
    assert len(list((tmp_path / "folds").glob("*.npz"))) == 2 * 3  # two stored rows × three folds

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="clausetag"):
        assert main(argv) == 0  # every fold comes from the store: same figures
    assert sum("from the fold store" in r.getMessage() for r in caplog.records) == 6
    again = json.loads((tmp_path / "recipes.json").read_text(encoding="utf-8"))
    assert again["rows"]["ensemble"]["policies"] == data["rows"]["ensemble"]["policies"]


def test_recipe_study_refuses_a_fold_that_is_not_a_real_document(
    tiny_encoder: Path, tiny_study_data: Path, tmp_path: Path
) -> None:
    from clausetag.errors import ClausetagError
    from clausetag.training.experiments.recipes import main

    with pytest.raises(ClausetagError, match="not real documents"):
        main(["--data", str(tiny_study_data), "--folds", "a01-dental-clinic", "-o", str(tmp_path)])


@pytest.mark.parametrize("policy", TRAIN_POLICIES)
def test_threshold_policies_give_one_threshold_per_label_in_range(policy: str) -> None:
    rng = np.random.default_rng(0)
    y = rng.random((300, 4)) < [0.3, 0.05, 0.0, 0.5]
    proba = np.clip(0.4 * y + 0.6 * rng.random(y.shape), 0, 1)
    cut = choose_thresholds(policy, y, proba)
    assert cut.shape == (4,) and np.all((cut > 0) & (cut < 1))
    assert cut[2] == pytest.approx(0.5) or policy == "global"  # a label never seen keeps 0.5


def test_keep_authored_counts_the_v1_checklist_first_then_policies_by_id() -> None:
    """Learning-curve steps: n = 1 keeps only the oldest authored text, the v1 checklist."""
    from clausetag.training.experiments import keep_authored

    def unit(doc: str, source: str) -> dict[str, object]:
        return {"id": f"{doc}-1", "doc": doc, "lang": "en", "text": "t", "labels": ["x"], "source": source}

    units = [unit("000", "seed"), unit("a02-x", "authored"), unit("authored", "authored")]
    units.append(unit("a01-y", "authored"))
    docs = lambda n: [u["doc"] for u in keep_authored(units, n)]  # noqa: E731
    assert docs(1) == ["000", "authored"]
    assert docs(2) == ["000", "authored", "a01-y"]
    assert docs(3) == ["000", "a02-x", "authored", "a01-y"]


def test_paired_bootstrap_delta_is_zero_for_equal_predictions_and_signed_otherwise() -> None:
    from clausetag.training.metrics import paired_bootstrap_delta

    rng = np.random.default_rng(1)
    y = (rng.random((200, 3)) < 0.3).astype(int)
    noisy = np.where(rng.random(y.shape) < 0.3, 1 - y, y)
    assert paired_bootstrap_delta(y, noisy, noisy, n=50) == (0.0, 0.0, 0.0)
    delta, lo, hi = paired_bootstrap_delta(y, noisy, y, n=200)  # the second is perfect
    assert delta > 0 and 0 < lo <= delta <= hi


def test_recipe_study_compares_context_rows_with_their_twins(
    tiny_encoder: Path, tiny_study_data: Path, tmp_path: Path
) -> None:
    from clausetag.training.experiments.recipes import main

    argv = ["--data", str(tiny_study_data), "--encoder", str(tiny_encoder)]
    assert main([*argv, "--rows", "tfidf-dev", "tfidf-dev-context", "-o", str(tmp_path)]) == 0
    paired = json.loads((tmp_path / "recipes.json").read_text(encoding="utf-8"))["context_paired"]
    assert list(paired) == ["tfidf-dev-context"] and paired["tfidf-dev-context"]["against"] == "tfidf-dev"
    for part in ("all", "en", "lv"):
        fig = paired["tfidf-dev-context"][part]
        assert fig["ci95"][0] <= fig["delta"] <= fig["ci95"][1]
    assert "| tfidf-dev-context | tfidf-dev |" in (tmp_path / "recipes.md").read_text(encoding="utf-8")


def test_fine_tuned_rows_read_context_only_where_they_name_it(tiny_encoder: Path, tmp_path: Path) -> None:
    """``clausetag train`` reads context by default; the study's rows without one must not."""
    from clausetag.training.args import parse_args
    from clausetag.training.experiments.fitters import STUDY_TRAIN_DEFAULTS, FinetuneFitter
    from clausetag.training.experiments.rows import ROW

    expected = {
        "finetune-mean": "none",
        "finetune-heading": "heading",
        "finetune-context": "heading+previous",
    }
    for name, reads in expected.items():
        fit = FinetuneFitter(
            ("--model_name_or_path", str(tiny_encoder), *ROW[name].train_flags), STUDY_TRAIN_DEFAULTS
        )
        args = parse_args([*fit.defaults, *fit.train_argv, "--output_dir", str(tmp_path / name)])
        assert (name, args.model.context) == (name, reads)
