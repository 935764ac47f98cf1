"""Issue 20: each unit read in its place — structure, the context recipe, and one result on every path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import train_tiny_model

from clausetag.cli import main as cli
from clausetag.inference import ClauseClassifier
from clausetag.inference.segment import segment_places

POLICY_MD = """# Privacy policy of SIA Piemērs

## 3. What data we collect

We collect the following data:
- your name;
- your phone number;

## 7. How long we keep it

5 years after the contract ends.
"""


def _places(text: str) -> list[tuple[str, str, tuple[str, ...]]]:
    segments, places = segment_places(text, "en")
    return [(s.text, p.kind, p.section) for s, p in zip(segments, places, strict=True)]


def test_markdown_gives_kinds_and_section_paths() -> None:
    got = {text: (kind, section) for text, kind, section in _places(POLICY_MD)}
    assert got["We collect the following data:"][0] == "lead-in"
    kind, section = got["your phone number;"]
    # a list item hangs on its lead-in, which hangs on the heading
    assert kind == "list-item" and section[-2:] == (
        "3. What data we collect",
        "We collect the following data:",
    )
    kind, section = got["5 years after the contract ends."]
    assert kind == "sentence" and section[-1] == "7. How long we keep it"
    assert section[0] == "Privacy policy of SIA Piemērs"  # the path keeps the chain, nearest last


def test_html_and_plain_text_give_the_same_sections() -> None:
    from clausetag.inference.markup import strip_html

    html = (
        "<h1>Privacy policy</h1><h2>Retention</h2><p>We keep data for these periods:</p>"
        "<ul><li>invoices: 5 years;</li></ul>"
    )
    text = "Privacy policy\n\nII. Retention\n\nWe keep data for these periods:\n- invoices: 5 years;\n"
    for source in (strip_html(html), text):
        got = {t: (k, s) for t, k, s in _places(source)}
        kind, section = got["invoices: 5 years;"]
        assert kind == "list-item" and section[-2].endswith("Retention"), (source, got)
        assert section[-1] == "We keep data for these periods:"


@pytest.fixture(scope="module")
def context_model(tiny_encoder: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_model(
        tiny_encoder, small_corpus, tmp_path_factory.mktemp("ctx") / "model", "--context", "heading+previous"
    )


def test_the_default_recipe_reads_the_section_and_the_previous_unit_in_12_tokens() -> None:
    from clausetag.inference.context import ContextRecipe
    from clausetag.training.args import ModelArguments

    assert ModelArguments().context_recipe == ContextRecipe("heading+previous", max_tokens=12)


def test_the_model_directory_records_the_context_recipe(context_model: Path, tiny_model: Path) -> None:
    config = json.loads((context_model / "config.json").read_text())
    assert config["clausetag_context"]["reads"] == "heading+previous"
    assert ClauseClassifier.from_pretrained(context_model).context.active
    assert not ClauseClassifier.from_pretrained(tiny_model).context.active


def test_context_changes_scores_only_for_a_context_model(context_model: Path, tiny_model: Path) -> None:
    texts = ["your phone number;", "5 years after the contract ends."]
    contexts = [{"section": ["What data we collect"]}, {"section": ["How long we keep it"], "previous": "x"}]
    plain = ClauseClassifier.from_pretrained(tiny_model)
    np.testing.assert_array_equal(plain.predict_proba(texts), plain.predict_proba(texts, contexts=contexts))
    ctx = ClauseClassifier.from_pretrained(context_model)
    assert not np.allclose(ctx.predict_proba(texts), ctx.predict_proba(texts, contexts=contexts))


def test_tag_document_jsonl_and_api_agree(context_model: Path, tmp_path: Path) -> None:
    clf = ClauseClassifier.from_pretrained(context_model)
    tagged = clf.tag_document(POLICY_MD, lang="en")
    # the same units as JSONL, in order within one doc, with the kinds and section paths the segmenter
    # found (JSONL has no heading levels: a `heading` field is how a user passes a nested path)
    units = tmp_path / "units.jsonl"
    segments, places = segment_places(POLICY_MD, "en")
    units.write_text(
        "".join(
            json.dumps(
                {
                    "id": str(i),
                    "doc": "p",
                    "lang": "en",
                    "text": s.text,
                    "kind": p.kind,
                    "heading": list(p.section),
                }
            )
            + "\n"
            for i, (s, p) in enumerate(zip(segments, places, strict=True))
        ),
        encoding="utf-8",
    )
    out = tmp_path / "tags.jsonl"
    assert cli(["predict", "--model", str(context_model), "-q", str(units), "-o", str(out)]) == 0
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    api = clf.predict([s.text for s in segments], contexts=[p.context for p in places])
    assert [r["text"] for r in records] == [u.text for u in tagged]
    for unit, record, pred in zip(tagged, records, api, strict=True):
        for name, score in unit.scores.items():
            assert score == pytest.approx(record["scores"][name], abs=1e-6)
            assert score == pytest.approx(pred.scores[name], abs=1e-6)
    assert tagged[-1].section[-1] == "7. How long we keep it"


def test_onnx_export_of_a_context_model_keeps_its_scores(context_model: Path, tmp_path: Path) -> None:
    import shutil

    model = tmp_path / "m"
    shutil.copytree(context_model, model)
    assert cli(["export-onnx", "--model", str(model)]) == 0  # the export's own check covers contexts
    torch_units = ClauseClassifier.from_pretrained(model).tag_document(POLICY_MD, lang="en")
    onnx_units = ClauseClassifier.from_pretrained(model, backend="onnx").tag_document(POLICY_MD, lang="en")
    for a, b in zip(torch_units, onnx_units, strict=True):
        for name in a.scores:
            assert a.scores[name] == pytest.approx(b.scores[name], abs=1e-4)
