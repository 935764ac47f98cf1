"""Vocabulary trimming and the fused int8 export: the tokenizer stays whole, parity holds on held-out units.

The tiny encoder here has a SentencePiece-style Unigram tokenizer (what e5 uses)
trained on every corpus text; the trimmed vocabulary is chosen from the authored
policies only, and parity is measured on the five real policies and their
translations, which the trimming never saw.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import corpus_units, train_tiny_model

from clausetag.cli import main as cli
from clausetag.inference import ClauseClassifier, ModelDir

AUTHORED = Path(__file__).resolve().parent.parent / "data" / "corpus" / "authored"
ODD_TEXTS = [
    "中文隐私政策 🙂 ĀČĒĢĪĶĻŅŠŪŽ ∑ ✓ ■ — “quoted” €5",
    "x" * 3000,
    "ΑΒΓ Привет мир",
    "\u0301\u200b",
    "https://www.dvi.gov.lv/lv/datu-valsts-inspekcija?x=1&y=2",
]


@pytest.fixture(scope="module")
def unigram_model(tmp_path_factory: pytest.TempPathFactory, small_corpus: Path) -> Path:
    from clausetag.models.tiny import build_tiny_encoder

    encoder = build_tiny_encoder(
        tmp_path_factory.mktemp("unigram-encoder"),
        [u["text"] for u in corpus_units()],
        vocab_size=3000,
        tokenizer="unigram",
    )
    out = tmp_path_factory.mktemp("unigram-model") / "model"
    return train_tiny_model(encoder, small_corpus, out, "--head_init", "random")


@pytest.fixture(scope="module")
def trimmed(unigram_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("trimmed") / "model-en-lv"
    argv = ["export-onnx", "--model", str(unigram_model), "--trim-vocab", "--vocab-text", str(AUTHORED)]
    assert cli([*argv, "--fuse", "--quantize", "int8", "-o", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def held_out() -> list[dict]:
    """The five real policies and their translations (documents 000-004): never vocabulary texts."""
    return [u for u in corpus_units() if not u["doc"].startswith("a") and u["source"] != "authored"]


def _tokens(model: Path, texts: list[str]) -> list[list[str]]:
    from clausetag.inference.tokenization import BatchTokenizer

    md = ModelDir.open(model)
    return [
        e.tokens for e in BatchTokenizer(md.path / "tokenizer.json", 10_000, md.text_prefix).encode(texts)
    ]


def test_trimmed_directory_is_consistent(unigram_model: Path, trimmed: Path) -> None:
    spec = json.loads((trimmed / "tokenizer.json").read_text(encoding="utf-8"))
    full = json.loads((unigram_model / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = [piece for piece, _ in spec["model"]["vocab"]]
    assert len(vocab) < len(full["model"]["vocab"])
    config = json.loads((trimmed / "config.json").read_text(encoding="utf-8"))
    assert config["vocab_size"] == len(vocab)
    from safetensors import safe_open

    with safe_open(str(trimmed / "model.safetensors"), framework="np") as fh:
        assert fh.get_slice("bert.embeddings.word_embeddings.weight").get_shape()[0] == len(vocab)
    # every special token is kept with the id it had
    for token in full["added_tokens"]:
        assert vocab.index(token["content"]) == token["id"]
    assert spec["model"]["unk_id"] == vocab.index("<unk>")
    scores = dict(map(tuple, full["model"]["vocab"]))
    assert all(scores[p] == s for p, s in spec["model"]["vocab"])  # scores kept
    assert sorted(p.name for p in (trimmed / "onnx").iterdir()) == ["model.onnx", "model_int8.onnx"]
    record = json.loads((trimmed / "trim.json").read_text(encoding="utf-8"))
    assert record["pieces_after"] == len(vocab) and record["vocabulary_texts"]
    assert (trimmed / "thresholds.json").read_bytes() == (unigram_model / "thresholds.json").read_bytes()


def test_every_text_still_tokenises(unigram_model: Path, trimmed: Path, held_out: list[dict]) -> None:
    texts = [u["text"] for u in held_out] + ODD_TEXTS
    old, new = _tokens(unigram_model, texts), _tokens(trimmed, texts)
    for text, a, b in zip(texts, old, new, strict=True):
        # a dropped piece falls back to kept pieces spelling the same text: never an error
        assert "".join(a) == "".join(b) or "<unk>" in b, text
        if all(ord(ch) < 0x250 for ch in text):  # Latin text never needs <unk>
            assert ("<unk>" in b) <= ("<unk>" in a), text
    same = np.mean([a == b for a, b in zip(old, new, strict=True)])
    print(f"held-out units tokenised exactly as before: {same:.3f}")
    assert 0.0 < same < 1.0  # something was dropped, and plenty was kept


def test_vocabulary_texts_tokenise_exactly_as_before(unigram_model: Path, trimmed: Path) -> None:
    texts = [json.loads(line)["text"] for p in sorted(AUTHORED.glob("*.jsonl")) for line in p.open()][:500]
    assert _tokens(unigram_model, texts) == _tokens(trimmed, texts)


def test_trimmed_int8_parity_on_held_out_units(
    unigram_model: Path, trimmed: Path, held_out: list[dict]
) -> None:
    """≥ 99 % of label decisions of the trimmed, fused int8 model equal the full torch model's."""
    texts = [u["text"] for u in held_out]
    full = ClauseClassifier.from_pretrained(unigram_model)
    p_full = full.predict_proba(texts, batch_size=64)
    for backend in ("torch", "onnx", "onnx-int8"):
        clf = ClauseClassifier.from_pretrained(trimmed, backend=backend)
        p = clf.predict_proba(texts, batch_size=64)
        same = clf.decide(p) == full.decide(p_full)
        delta = np.abs(p - p_full)
        langs = np.array([u["lang"] for u in held_out])
        by_lang = {lang: float(same[langs == lang].mean()) for lang in ("en", "lv")}
        print(
            f"trimmed {backend} vs full torch on {len(texts)} held-out units: decisions {same.mean():.4f} "
            f"{by_lang}, mean |dp| {delta.mean():.2e}, max |dp| {delta.max():.2e}"
        )
        assert min(by_lang.values()) >= 0.99


def test_fusion_only_when_asked(trimmed: Path, unigram_model: Path, tmp_path: Path) -> None:
    import onnx

    fused = {"SkipLayerNormalization", "BiasGelu", "Attention", "EmbedLayerNormalization"}
    ops = {n.op_type for n in onnx.load(str(trimmed / "onnx" / "model.onnx")).graph.node}
    assert {"SkipLayerNormalization", "BiasGelu"} <= ops or "Attention" in ops, ops
    out = tmp_path / "plain"
    argv = ["export-onnx", "--model", str(unigram_model), "--trim-vocab", "--vocab-text", str(AUTHORED)]
    assert cli([*argv, "-o", str(out)]) == 0
    plain = {n.op_type for n in onnx.load(str(out / "onnx" / "model.onnx")).graph.node}
    assert not plain & fused, plain & fused


def test_predict_cli_on_the_trimmed_model(trimmed: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text("Privātuma politika\nWe keep invoices for 5 years. 中文\n", "utf-8")
    out = tmp_path / "o.jsonl"
    args = ["predict", "--model", str(trimmed), "--backend", "onnx-int8", "-q", str(policy), "-o", str(out)]
    assert cli(args) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    joined = "".join(r["text"] for r in records).replace(" ", "")
    assert joined == "PrivātumapolitikaWekeepinvoicesfor5years.中文"


def test_trim_refuses_what_it_cannot_trim(
    tiny_model: Path, unigram_model: Path, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "out"
    assert cli(["export-onnx", "--model", str(tiny_model), "--trim-vocab", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "needs a SentencePiece Unigram tokenizer" in err and "Traceback" not in err
    assert not out.exists()
    out.mkdir()
    assert cli(["export-onnx", "--model", str(unigram_model), "--trim-vocab", "-o", str(out)]) == 2
    assert "exists; choose another -o/--output or pass --overwrite" in capsys.readouterr().err
    assert cli(["export-onnx", "--model", str(unigram_model), "--vocab-text", str(AUTHORED)]) == 2
    assert "go with --trim-vocab" in capsys.readouterr().err


def test_failed_trim_check_leaves_no_directory(
    unigram_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from clausetag.inference import export as export_module

    monkeypatch.setattr(export_module, "TRIM_TOLERANCE", -1.0)
    out = tmp_path / "trimmed"
    argv = ["export-onnx", "--model", str(unigram_model), "--trim-vocab", "--vocab-text", str(AUTHORED)]
    assert cli([*argv, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        "trimmed model differs from torch" in err and "nothing was written" in err and "Traceback" not in err
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_trim_model_api_writes_a_loadable_directory(unigram_model: Path, tmp_path: Path) -> None:
    from clausetag.inference.trim import trim_model

    model = tmp_path / "model"
    shutil.copytree(unigram_model, model, ignore=shutil.ignore_patterns("onnx"))
    (model / "extra").mkdir()  # other files and folders (an ensemble's ngram/) travel with the copy
    (model / "extra" / "notes.txt").write_text("kept")
    report = trim_model(model, tmp_path / "small", [AUTHORED])
    assert report.pieces_after < report.pieces_before and report.parameters_after < report.parameters_before
    assert (tmp_path / "small" / "extra" / "notes.txt").read_text() == "kept"
    texts = ["We keep invoices for 5 years.", "Dati tiek glabāti."]
    a = ClauseClassifier.from_pretrained(unigram_model).predict_proba(texts)
    b = ClauseClassifier.from_pretrained(tmp_path / "small").predict_proba(texts)
    assert np.abs(a - b).max() < 0.05
