"""The bundled corpus and the code that loads, checks, counts and splits it.

Checks the corpus against the label spec and the seed policies (where ../shared
is present), the validator's refusals, the stats table, the document-level
splits and the ``datasets`` view used for training.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from helpers import REPO, SEEDS, SHARED, corpus_units

from clausetag.cli import main as cli
from clausetag.data.corpus import leave_one_document_out, load_units, spec_rule_problems, split_by_document
from clausetag.labels import DEFAULT_LABELS, EXCLUSIVE_LABEL

CORPUS = REPO / "data" / "corpus"
SPEC = SHARED / "spec" / "labels.md"
REAL_DOCS = ["000", "001", "002", "003", "004"]
# Segmentation rule 2 of the annotation guide: markers stripped from the start of a line.
BULLETS = set("-•*–—·▪○")


def seed_file(doc: str) -> Path:
    matches = sorted(SEEDS.glob(f"{doc}_*.txt"))
    assert len(matches) == 1, f"expected one seed file for document {doc} in {SEEDS}"
    return matches[0]


@pytest.fixture(scope="module")
def units() -> list[dict]:
    return corpus_units()


def write_jsonl(path: Path, records: list[dict | str]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- the label list -------------------------------------------------------------------------


@pytest.mark.skipif(not SPEC.is_file(), reason="../shared/spec/labels.md is not present")
def test_label_list_matches_the_spec_table() -> None:
    rows = [line for line in SPEC.read_text(encoding="utf-8").splitlines() if line.startswith("| `")]
    spec_labels = [re.match(r"\| `([a-z_]+)` \|", row).group(1) for row in rows]  # type: ignore[union-attr]
    assert spec_labels == list(DEFAULT_LABELS)
    assert EXCLUSIVE_LABEL == "other" == spec_labels[-1]


# --- the bundled corpus ---------------------------------------------------------------------


def test_validate_passes_on_the_bundled_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["data", "validate", str(CORPUS)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ok: ") and f"{len(DEFAULT_LABELS)} labels" in out


def test_corpus_shape(units: list[dict]) -> None:
    ids = [u["id"] for u in units]
    assert len(ids) == len(set(ids))
    assert {u["doc"] for u in units if u["source"] == "seed"} == set(REAL_DOCS)
    authored_docs = {u["doc"] for u in units if u["source"] == "authored"}
    policies = sorted(authored_docs - {"authored"})  # "authored": the v1 checklist units
    assert len(policies) >= 40 and all(re.fullmatch(r"a\d\d-[a-z0-9-]+", d) for d in policies)
    order = {name: i for i, name in enumerate(DEFAULT_LABELS)}
    for u in units:
        assert u["lang"] in {"en", "lv"}, u["id"]
        assert u["text"] == u["text"].strip() and u["text"], u["id"]
        # the guide writes labels in the spec's table order
        assert [order[x] for x in u["labels"]] == sorted(order[x] for x in u["labels"]), u["id"]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="../shared/seeds is not present")
@pytest.mark.parametrize("doc", REAL_DOCS)
def test_seed_units_are_exact_spans_covering_the_file(units: list[dict], doc: str) -> None:
    text = seed_file(doc).read_text(encoding="utf-8")
    seeds = [u for u in units if u["doc"] == doc and u["source"] == "seed"]
    assert seeds, f"no seed units for document {doc}"
    covered = [False] * len(text)
    last_end = 0
    for u in seeds:
        start, end = u["start"], u["end"]
        assert text[start:end] == u["text"], u["id"]
        assert start >= last_end, f"{u['id']} overlaps or is out of file order"
        last_end = end
        covered[start:end] = [True] * (end - start)
    # Every non-whitespace character outside the spans is a bullet marker that was
    # stripped from the start of its line (segmentation rule 2).
    line_start = 0
    for i, ch in enumerate(text):
        if ch == "\n":
            line_start = i + 1
        if covered[i] or ch.isspace():
            continue
        before = text[line_start:i]
        assert ch in BULLETS and not before.strip(), (
            f"{seed_file(doc).name}: character {ch!r} at offset {i} is in no unit "
            f"(line: {text[line_start : text.find(chr(10), i)]!r})"
        )


def test_every_seed_unit_and_authored_policy_unit_has_one_translation(units: list[dict]) -> None:
    by_id = {u["id"]: u for u in units}
    translations = [u for u in units if u["source"] == "translation"]
    per_orig = Counter(u["orig"] for u in translations)
    originals = [
        u for u in units if u["source"] == "seed" or (u["source"] == "authored" and u["doc"] != "authored")
    ]
    assert [u["id"] for u in originals if per_orig[u["id"]] != 1] == []
    assert len(translations) == len(originals)
    flip = {"en": "lv", "lv": "en"}
    for t in translations:
        orig = by_id[t["orig"]]
        assert orig["source"] in {"seed", "authored"}, t["id"]
        assert t["labels"] == orig["labels"], t["id"]
        assert t["lang"] == flip[orig["lang"]], t["id"]
        assert t["doc"] == orig["doc"], t["id"]


def test_every_label_has_five_real_examples_per_language(units: list[dict]) -> None:
    """Real or translated seed text; labels with no seed example at all are the exception."""
    seed_labels = {x for u in units if u["source"] == "seed" for x in u["labels"]}
    unseen = [name for name in DEFAULT_LABELS if name not in seed_labels]
    # Only `children` lacks a seed example (authored units cover it): a new gap shows here.
    assert unseen == ["children"]
    counts = Counter(
        (x, u["lang"]) for u in units if u["source"] in {"seed", "translation"} for x in u["labels"]
    )
    thin = {
        (name, lang): counts[name, lang]
        for name in DEFAULT_LABELS
        if name not in unseen
        for lang in ("en", "lv")
        if counts[name, lang] < 5
    }
    assert thin == {}


# --- the validator's refusals ---------------------------------------------------------------

GOOD = {"id": "x-1", "doc": "x", "lang": "en", "text": "We keep data for 5 years.", "labels": ["retention"]}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**GOOD, "id": "x-2", "labels": ["retention", "storage"]}, "unknown label(s) 'storage'"),
        ({**GOOD, "id": "x-2", "text": "   "}, "empty text"),
        ({**GOOD, "text": "Another sentence."}, "duplicate id 'x-1'"),
        ({**GOOD, "id": "x-2", "labels": ["retention", "other"]}, "'other' is exclusive"),
        (
            {**GOOD, "id": "x-2", "lang": "lv", "source": "translation", "orig": "x-9"},
            "translation of 'x-9', which does not exist",
        ),
        ('{"id": "x-2", "text": "no closing brace"', "malformed JSON"),
        ({**GOOD, "id": "x-2", "labels": ["purpose"]}, "identical texts carry identical labels"),
        (
            {**GOOD, "id": "x-1-lv", "lang": "lv", "text": "Glabājam 5 gadus.", "labels": ["purpose"],
             "source": "translation", "orig": "x-1"},
            "a translation keeps its original's labels",
        ),
    ],
    ids=["unknown-label", "empty-text", "duplicate-id", "other-mixed", "orig-missing", "bad-json",
         "same-text-other-labels", "translation-labels"],
)  # fmt: skip
def test_validate_rejects_with_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bad: dict | str, message: str
) -> None:
    path = write_jsonl(tmp_path / "bad.jsonl", [GOOD, bad])
    assert cli(["data", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: " in err
    assert message in err
    assert f"{path}:1:" not in err, "the good line is not blamed"


def test_validate_names_both_units_of_an_inconsistency(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case and spacing do not hide a repeat."""
    path = write_jsonl(
        tmp_path / "c.jsonl",
        [GOOD, {**GOOD, "id": "x-2", "text": "We  keep DATA for 5 years.", "labels": ["other"]}],
    )
    assert cli(["data", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: same text as {path}:1" in err


def test_complaint_with_rights_is_a_warning_unless_a_note_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    unit = {**GOOD, "text": "You may complain to the DVI.", "labels": ["rights", "complaint"]}
    path = write_jsonl(tmp_path / "w.jsonl", [unit])
    assert cli(["data", "validate", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"{path}:1: warning: 'complaint' with 'rights'" in captured.err
    assert "1 warning(s)" in captured.out
    write_jsonl(path, [{**unit, "note": "names the right of access as well"}])
    assert cli(["data", "validate", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


# Spec v2.1 checks: (rule, a unit that breaks it, the same kind of unit that does not).
SPEC_RULE_CASES = [
    (
        "19",
        {"text": 'SIA "Egle" (hereinafter – Egle) cares about your privacy.', "labels": ["other"]},
        {"text": "Egle cares about your privacy.", "labels": ["other"]},
    ),
    (
        "19",
        {"lang": "lv", "text": "Pārzinis ir SIA “Egle”, reģ. Nr. 40003123456.", "labels": ["other"]},
        {"lang": "lv", "text": "Norādiet uzņēmuma reģistrācijas numuru.", "labels": ["data_categories"]},
    ),
    (
        "19",
        {"text": 'In this notice, "we" means Egle.', "labels": ["other"]},
        {"text": 'In this notice, "we" means Egle.', "labels": ["controller"]},
    ),
    (
        "15",
        {"text": "Last updated: 3 March 2025", "labels": ["other"]},
        {"text": "Last updated: 3 March 2025", "labels": ["policy_changes"]},
    ),
    (
        "15",
        {"lang": "lv", "text": "Redakcija Nr. 2, spēkā no 2025. gada 1. maija", "labels": ["other"]},
        {"lang": "lv", "text": "Politika ir spēkā visā Latvijā.", "labels": ["other"]},
    ),
    (
        "7",
        {"text": "You have the right to withdraw your consent at any time.", "labels": ["rights"]},
        {"text": "The data subject has withdrawn their consent and no other basis applies.",
         "labels": ["rights"]},
    ),
    (
        "7",
        {"lang": "lv", "text": "Jums ir tiesības jebkurā laikā atsaukt piekrišanu.", "labels": ["rights"]},
        {"lang": "lv", "text": "Jums ir tiesības jebkurā laikā atsaukt piekrišanu.",
         "labels": ["user_choice"]},
    ),
    (
        "18",
        {"text": "Analytics cookies help us improve the site.", "labels": ["purpose", "cookies"]},
        {"text": "We use your e-mail address and cookie data to send offers.",
         "labels": ["data_categories", "purpose", "cookies"]},
    ),
    (
        "18",
        {"lang": "lv", "text": "Sīkdatnes izmantojam, lai uzlabotu vietni.",
         "labels": ["purpose", "cookies"]},
        {"lang": "lv", "text": "Vietnes darbībai – Sīkdatņu politika:", "labels": ["purpose", "cookies"]},
    ),
]  # fmt: skip


@pytest.mark.parametrize(("rule", "bad", "fine"), SPEC_RULE_CASES)
def test_spec_rule_checks_warn_and_name_the_rule(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], rule: str, bad: dict, fine: dict
) -> None:
    path = write_jsonl(tmp_path / "w.jsonl", [{**GOOD, **bad}])
    assert cli(["data", "validate", str(path)]) == 0  # warnings only
    captured = capsys.readouterr()
    assert f"{path}:1: warning: spec rule {rule}: " in captured.err
    assert "1 warning(s)" in captured.out
    write_jsonl(path, [{**GOOD, **fine}])
    assert cli(["data", "validate", str(path)]) == 0
    assert "warning" not in capsys.readouterr().err


def test_spec_rule_checks_leave_another_label_scheme_alone() -> None:
    unit = {**GOOD, "text": 'SIA "Egle" (hereinafter – Egle) cares.', "labels": ["Other"]}
    assert spec_rule_problems([unit], ["First Party Collection/Use", "Other"]) == []
    assert [p.message[:13] for p in spec_rule_problems([unit])] == ["spec rule 19:"]


@pytest.mark.parametrize("kind", ["paragraph", "", 3])
def test_validate_rejects_an_unknown_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str], kind) -> None:
    path = write_jsonl(
        tmp_path / "k.jsonl", [{**GOOD, "kind": "sentence"}, {**GOOD, "id": "x-2", "kind": kind}]
    )
    assert cli(["data", "validate", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"{path}:2: 'kind' must be one of heading, lead-in, list-item, sentence, table-row" in err
    assert f"{path}:1:" not in err


def test_the_bundled_corpus_gives_no_spec_rule_error(units: list[dict]) -> None:
    """Errors (a bad ``kind``) never; warnings are for a reader, and v2.1 left none in the corpus."""
    assert [str(p) for p in spec_rule_problems(units) if not p.warning] == []


def test_a_researchers_own_source_field_is_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`source` values are checked in the bundled corpus only; elsewhere they are the user's."""
    path = write_jsonl(tmp_path / "mine.jsonl", [{**GOOD, "source": "crawl-2024/site-17"}])
    assert cli(["data", "validate", str(path)]) == 0
    assert load_units(path, DEFAULT_LABELS)[0]["source"] == "crawl-2024/site-17"


def test_authored_policies_and_their_translations_only_train(loaded: list) -> None:
    for _, _train, test in leave_one_document_out(loaded):
        assert all(not u["doc"].startswith("a") for u in test)
    splits = split_by_document(loaded, dev_docs=["004", "a01-dental-clinic"])
    assert {u["doc"] for u in splits["dev"]} == {"004", "a01-dental-clinic"}
    assert any(u["source"] == "translation" and u["doc"].startswith("a") for u in splits["train"])


def test_validate_accepts_a_minimal_outside_corpus(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Only text, lang and labels are required from outside data."""
    path = write_jsonl(
        tmp_path / "mine.jsonl", [{"text": "Cookies are small files.", "lang": "en", "labels": ["cookies"]}]
    )
    assert cli(["data", "validate", str(path)]) == 0
    assert "ok: 1 units" in capsys.readouterr().out


# --- stats ----------------------------------------------------------------------------------


def test_stats_prints_a_row_for_every_label(units: list[dict], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["data", "stats", str(CORPUS)]) == 0
    out = capsys.readouterr().out
    counts, shape = out.split("\n\n", 1)  # the count table, then the shape table
    assert "How it is written" in shape and "| list-item" in shape
    lines = counts.splitlines()
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[0] == "label" and header[-1] == "total"
    for col in ("en/seed", "en/translation", "en/authored", "lv/seed", "lv/translation", "lv/authored"):
        assert col in header
    rows = {r[0]: r for r in ([c.strip() for c in line.strip("|").split("|")] for line in lines[2:])}
    assert list(rows) == [*DEFAULT_LABELS, "(units)"]
    assert int(rows["(units)"][-1]) == len(units)
    for name in DEFAULT_LABELS:
        assert int(rows[name][-1]) == sum(name in u["labels"] for u in units), name


# --- splits ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def loaded() -> list:
    return load_units(CORPUS, DEFAULT_LABELS)


@pytest.mark.parametrize("dev_docs", [["004"], None], ids=["explicit", "drawn"])
def test_split_keeps_translations_with_originals(loaded: list, dev_docs: list[str] | None) -> None:
    splits = split_by_document(loaded, dev_docs=dev_docs)
    assert set(splits) == {"train", "dev"}
    side = {u["id"]: name for name, part in splits.items() for u in part}
    assert len(side) == len(loaded)
    for u in loaded:
        if u["source"] == "translation":
            assert side[u["id"]] == side[u["orig"]], u["id"]
        if u["source"] == "authored" and u["doc"] not in (dev_docs or []) and dev_docs is not None:
            assert side[u["id"]] == "train", u["id"]
    dev = {u["doc"] for u in splits["dev"]}
    assert dev and dev.isdisjoint({u["doc"] for u in splits["train"]})
    if dev_docs is not None:
        assert dev == set(dev_docs)
    else:  # drawn: a fifth of the authored policies, every real document trains
        authored = {u["doc"] for u in loaded if u["source"] == "authored"}
        assert len(dev) == round(0.2 * len(authored)) and dev <= authored
        assert {u["doc"] for u in splits["train"] if u["source"] == "seed"} == set(REAL_DOCS)


def test_split_with_a_test_document(loaded: list) -> None:
    splits = split_by_document(loaded, dev_docs=["001"], test_docs=["003"])
    assert {u["doc"] for u in splits["test"]} == {"003"}
    assert {u["doc"] for u in splits["dev"]} == {"001"}
    assert all(u["source"] != "authored" for u in splits["test"] + splits["dev"])


def test_leave_one_document_out_folds(loaded: list) -> None:
    folds = leave_one_document_out(loaded)
    assert [doc for doc, _, _ in folds] == REAL_DOCS
    seen: set[str] = set()
    for doc, train, test in folds:
        test_ids = {u["id"] for u in test}
        assert {u["doc"] for u in test} == {doc}
        assert doc not in {u["doc"] for u in train}
        assert test_ids.isdisjoint(u["id"] for u in train)
        assert len(train) + len(test) == len(loaded)
        assert {u["lang"] for u in test} == {"en", "lv"}  # the translation goes with it
        assert all(u["source"] != "authored" for u in test)
        assert seen.isdisjoint(test_ids)
        seen |= test_ids


# --- the datasets view ----------------------------------------------------------------------


def test_dataset_dict_features(loaded: list) -> None:
    datasets = pytest.importorskip("datasets")
    from clausetag.data.corpus import split_by_document
    from clausetag.data.dataset import to_dataset_dict

    dd = to_dataset_dict(split_by_document(loaded, dev_docs=["004"]), DEFAULT_LABELS)
    assert isinstance(dd, datasets.DatasetDict)
    assert set(dd) == {"train", "dev"}
    assert dd["train"].num_rows + dd["dev"].num_rows == len(loaded)
    assert set(dd["dev"]["doc"]) == {"004"}
    feats = dd["train"].features
    assert isinstance(feats["labels"], datasets.List)
    assert isinstance(feats["labels"].feature, datasets.ClassLabel)
    assert feats["labels"].feature.names == list(DEFAULT_LABELS)
    assert feats["multi_hot"] == datasets.List(datasets.Value("float32"))
    for name in ("id", "doc", "lang", "source", "text"):
        assert feats[name] == datasets.Value("string"), name
    row = next(r for r in dd["train"] if len(r["labels"]) > 1)
    assert len(row["multi_hot"]) == len(DEFAULT_LABELS)
    assert all(isinstance(v, float) for v in row["multi_hot"])
    assert [i for i, v in enumerate(row["multi_hot"]) if v == 1.0] == sorted(row["labels"])
    assert sum(row["multi_hot"]) == len(row["labels"])


def test_shape_table_counts_originals_by_kind_length_and_law_references() -> None:
    from clausetag.data.stats import shape_table

    def unit(i: int, text: str, source: str = "seed", labels: list[str] | None = None) -> dict[str, object]:
        return {"id": f"d-{i}", "doc": "d", "lang": "en", "text": text, "labels": labels or ["other"],
                "source": source}  # fmt: skip

    long = " ".join(["word"] * 41) + "."
    units = [
        unit(1, "Who we are"),
        unit(2, "We collect:"),
        unit(3, "- your name;"),
        unit(4, "We rely on Art. 6(1)(b) GDPR.", labels=["legal_basis"]),
        unit(5, long, labels=["cookies"]),
        unit(6, "A translation is not counted twice.", source="translation"),
    ]
    header, rows = shape_table(units)  # type: ignore[arg-type]
    table = {r[0]: r[1:] for r in rows}
    assert header == ["", "seed"]
    assert table["units (originals)"] == ["5"]
    assert table["heading"] == ["20.0%"] and table["lead-in"] == ["20.0%"] and table["list-item"] == ["20.0%"]
    assert table["over 40 words"] == ["20.0%"] and table["law / article references"] == ["20.0%"]
    assert table["labelled cookies"] == ["20.0%"] and "labelled children" not in table


def test_agreement_of_two_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from clausetag.data.agreement import exact_set_agreement, main, per_label

    first = [{"a"}, {"a", "b"}, {"c"}, {"b"}]
    second = [{"a"}, {"a"}, {"c"}, {"b"}]
    assert exact_set_agreement(first, second) == 0.75
    b = {x.label: x for x in per_label(first, second, ["a", "b", "c"])}["b"]
    assert (b.first, b.second, b.both, b.agreement) == (2, 1, 1, 0.75)
    assert b.kappa == pytest.approx(0.5) and b.f1 == pytest.approx(2 / 3)
    path = tmp_path / "passes.jsonl"
    pairs = zip(first, second, strict=True)
    rows = [{"lang": "en", "first": sorted(f), "second": sorted(s)} for f, s in pairs]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    assert main([str(path)]) == 0
    assert "4 units; exact-set agreement 75.0%" in capsys.readouterr().out
    path.write_text('{"lang": "en"}\n', encoding="utf-8")
    assert main([str(path)]) == 2


def test_the_shipped_second_pass_covers_150_new_units() -> None:
    """The data card's agreement figure comes from this file (150 or more units of the v3 policies)."""
    from clausetag.data.agreement import report

    path = Path(__file__).resolve().parent.parent / "data" / "agreement" / "v3-second-pass.jsonl"
    records = [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]
    assert len(records) >= 150 and all(r["first"] and r["second"] for r in records)
    assert report(records).startswith(f"{len(records)} units; exact-set agreement ")
