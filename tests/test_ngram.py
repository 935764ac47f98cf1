"""The n-gram member of an ensemble: scikit-learn's scores without scikit-learn, stored pickle-free."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from clausetag.errors import ClausetagError
from clausetag.inference.ngram import NGRAM_DIR, NgramMember


@pytest.fixture(scope="module")
def fitted(small_corpus: Path) -> tuple:
    from clausetag.data.corpus import load_units, split_by_document
    from clausetag.training.baseline import fit_baseline

    units = load_units(small_corpus)
    labels = sorted({x for u in units for x in u["labels"]})
    parts = split_by_document(units, dev_docs=["004"])
    return fit_baseline(parts["train"][::4], parts["dev"], labels), parts["dev"], labels


def test_member_reproduces_scikit_learn(fitted: tuple) -> None:
    from clausetag.training.baseline import to_member

    model, dev, _ = fitted
    texts = [u["text"] for u in dev] + ["", "a", "  x  y ", "ĀĒĪ ŪŠ — 123", "Mēs glabājam datus 5 gadus."]
    np.testing.assert_allclose(
        to_member(model, 0.5).predict_proba(texts), model.predict_proba(texts), atol=1e-9
    )


def test_scores_are_the_same_in_any_chunking(fitted: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    """One sparse product per chunk of texts: chunk edges (and texts with no known n-gram) change nothing."""
    from clausetag.inference import ngram
    from clausetag.training.baseline import to_member

    model, dev, _ = fitted
    member = to_member(model, 0.5)
    texts = ["", *[u["text"] for u in dev[:40]], "zzzz qqqq", ""]
    whole = member.predict_proba(texts)
    monkeypatch.setattr(ngram, "NGRAM_CHUNK", 3)
    np.testing.assert_allclose(member.predict_proba(texts), whole, atol=1e-12)
    np.testing.assert_allclose(whole, model.predict_proba(texts), atol=1e-9)
    assert member.predict_proba([]).shape == (0, len(member.labels))


def test_save_and_load_keep_the_scores(fitted: tuple, tmp_path: Path) -> None:
    from clausetag.training.baseline import to_member

    model, dev, labels = fitted
    member = to_member(model, 0.3)
    member.save(tmp_path)
    back = NgramMember.load(tmp_path, labels)
    assert back is not None and back.weight == pytest.approx(0.3)
    texts = [u["text"] for u in dev[:50]]
    np.testing.assert_allclose(back.predict_proba(texts), model.predict_proba(texts), atol=1e-5)
    assert not list(tmp_path.rglob("*.pkl")) and (tmp_path / NGRAM_DIR / "weights.safetensors").is_file()
    assert NgramMember.load(tmp_path / "elsewhere", labels) is None  # no member: a plain model


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.update(weight=True), "weight must be a number"),
        (lambda c: c.update(weight=1.5), "weight must be a number"),
        (lambda c: c.update(labels=["x"]), "labels differ"),
        (lambda c: c["analyzers"][0].update(kind="bpe"), "kind"),
        (lambda c: c["analyzers"][0].update(vocabulary=c["analyzers"][0]["vocabulary"][:-1]), "idf vector"),
        (lambda c: c["analyzers"][1].update(ngram_range=[2]), "ngram_range"),
    ],
)
def test_a_broken_member_is_refused_clearly(fitted: tuple, tmp_path: Path, change, message: str) -> None:
    from clausetag.training.baseline import to_member

    model, _, labels = fitted
    to_member(model, 0.5).save(tmp_path)
    path = tmp_path / NGRAM_DIR / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    change(config)
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ClausetagError, match=message):
        NgramMember.load(tmp_path, labels)


def test_corrupt_weights_are_refused_clearly(fitted: tuple, tmp_path: Path) -> None:
    from clausetag.training.baseline import to_member

    model, _, labels = fitted
    to_member(model, 0.5).save(tmp_path)
    weights = tmp_path / NGRAM_DIR / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ClausetagError, match="unreadable n-gram member"):
        NgramMember.load(tmp_path, labels)


def test_classifier_mixes_the_member_into_every_score(
    tiny_model: Path, fitted: tuple, tmp_path: Path
) -> None:
    from clausetag.inference import ClauseClassifier
    from clausetag.training.baseline import fit_baseline, to_member

    base = tmp_path / "transformer-only"
    shutil.copytree(tiny_model, base)
    shutil.rmtree(base / NGRAM_DIR, ignore_errors=True)  # the tiny model may carry its own member
    plain = ClauseClassifier.from_pretrained(base)
    assert plain.ngram is None
    model, dev, _ = fitted
    model = fit_baseline(dev, dev, plain.labels)  # the tiny model's label order
    both = tmp_path / "model"
    shutil.copytree(base, both)
    to_member(model, 0.25).save(both)
    mixed = ClauseClassifier.from_pretrained(both)
    texts = [u["text"] for u in dev[:20]]
    expected = 0.75 * plain.predict_proba(texts) + 0.25 * model.predict_proba(texts)
    np.testing.assert_allclose(mixed.predict_proba(texts), expected, atol=1e-5)
