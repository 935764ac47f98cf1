"""The ``clausetag`` spaCy component: found through its entry point, units and labels on the Doc."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

spacy = pytest.importorskip("spacy")

from clausetag.errors import ClausetagError  # noqa: E402
from clausetag.inference.classifier import ClauseClassifier  # noqa: E402

EN = (
    "Privacy policy\n\n"
    "SIA Example is the controller of your personal data; write to privacy@example.lv.\n"
    "We keep invoices for five years, as the Accounting Law requires. "
    "You may complain to the Data State Inspectorate.\n"
)
LV = (
    "Privātuma politika\n\n"
    "SIA Piemērs ir jūsu personas datu pārzinis; rakstiet uz privacy@example.lv.\n"
    "Rēķinus glabājam piecus gadus, kā to nosaka Grāmatvedības likums. "
    "Jūs varat iesniegt sūdzību Datu valsts inspekcijā.\n"
)


@pytest.fixture(scope="module")
def clf(tiny_model: Path) -> ClauseClassifier:
    return ClauseClassifier.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def nlp_en(tiny_model: Path) -> object:
    nlp = spacy.blank("en")
    nlp.add_pipe("clausetag", config={"model": str(tiny_model)})
    return nlp


def test_the_factory_is_an_entry_point() -> None:
    found = {e.name: e.value for e in importlib.metadata.entry_points(group="spacy_factories")}
    assert found.get("clausetag") == "clausetag.inference.spacy_component:make_clausetag"
    spacy.blank("en")  # imports the entry points
    assert spacy.language.Language.has_factory("clausetag")


def test_units_spans_and_cats_match_tag_document(nlp_en: object, clf: ClauseClassifier) -> None:
    doc = nlp_en(EN)  # type: ignore[operator]
    want = clf.tag_document(EN, lang="en")
    units = doc._.clausetag_units
    assert [(u["start"], u["end"], u["labels"]) for u in units] == [(u.start, u.end, u.labels) for u in want]
    group = doc.spans["clausetag"]
    expected = [(u.text, label) for u in want for label in u.labels]
    assert [(span.text, span.label_) for span in group] == expected
    assert list(group.attrs["scores"]) == [u.scores[label] for u in want for label in u.labels]
    for span in group:
        assert span._.clausetag["text"] == span.text and span.label_ in span._.clausetag["labels"]
    assert set(doc.cats) == set(clf.labels)
    for label in clf.labels:
        assert doc.cats[label] == pytest.approx(max(u.scores[label] for u in want))
    assert [s.text.strip() for s in doc.sents] == [u.text for u in want]  # the units are the sentences


def test_blank_latvian_and_batches(tiny_model: Path, nlp_en: object, clf: ClauseClassifier) -> None:
    nlp = spacy.blank("lv")
    nlp.add_pipe("clausetag", config={"model": str(tiny_model), "spans_key": "gdpr"})
    doc = nlp(LV)
    want = clf.tag_document(LV, lang="lv")
    assert [u["labels"] for u in doc._.clausetag_units] == [u.labels for u in want]
    assert "gdpr" in doc.spans and "clausetag" not in doc.spans
    texts = [EN, LV, "", EN.upper()]
    batched = list(nlp_en.pipe(texts, batch_size=3))  # type: ignore[attr-defined]
    for text, doc in zip(texts, batched, strict=True):
        alone = nlp_en(text)  # type: ignore[operator]
        assert [(s.start, s.end, s.label_) for s in doc.spans["clausetag"]] == [
            (s.start, s.end, s.label_) for s in alone.spans["clausetag"]
        ]
        assert doc.cats == pytest.approx(alone.cats)
    empty = batched[2]
    assert len(empty.spans["clausetag"]) == 0 and set(empty.cats.values()) == {0.0}


def test_a_missing_model_is_one_message() -> None:
    with pytest.raises(ClausetagError, match="needs a model directory"):
        spacy.blank("en").add_pipe("clausetag")
    with pytest.raises(ClausetagError, match="model directory not found"):
        spacy.blank("en").add_pipe("clausetag", config={"model": "no/such/model"})
