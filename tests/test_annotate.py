"""The annotation loop without a server: export (Label Studio, doccano, Argilla), choosing the batch,
import with validation and agreement, and ``train --extra_train_file``.

The Label Studio round trip against a real server is ``tests/test_labelstudio.py``; doccano and
Argilla round-trip here through their documented formats (Argilla through its SDK's record types).
"""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import REPO

from clausetag.cli import main as cli
from clausetag.data.agreement import agreement, krippendorff_binary
from clausetag.data.annotations import annotated_units, import_annotations
from clausetag.errors import ClausetagError
from clausetag.inference.annotate import Candidate, choose, confidence, default_cap, label_hints
from clausetag.labels import DEFAULT_LABELS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "annotate"
POLICIES = [FIXTURES / "example-shop.txt", FIXTURES / "piemers.txt"]
GOLD: dict[str, list[str]] = json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))


def export(model: Path, fmt: str, out: Path, *extra: str) -> Path:
    argv = ["annotate", "export", "--model", str(model), "--format", fmt, "-o", str(out), *extra]
    assert cli([*argv, *map(str, POLICIES)]) == 0
    return out


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# --------------------------------------------------------------------------- hints, confidence, choosing


def test_every_default_label_has_the_guides_hint() -> None:
    hints = label_hints(DEFAULT_LABELS)
    assert set(hints) == set(DEFAULT_LABELS)
    guide = (REPO / "data" / "ANNOTATION_GUIDE.md").read_text(encoding="utf-8")
    assert all(f"| `{x}` | {hints[x]} |" in guide for x in DEFAULT_LABELS)
    assert label_hints(["First Party Collection/Use"]) == {}  # another scheme: no hints, no error


def test_confidence_is_the_smallest_margin_to_the_thresholds() -> None:
    t = np.array([0.5, 0.2])
    proba = np.array([[0.5, 0.9], [1.0, 0.0], [0.75, 0.1], [0.0, 0.6]])
    assert confidence(proba, t).tolist() == pytest.approx([0.0, 1.0, 0.5, 0.5])


def _cands(confidences: dict[str, list[float]]) -> list[Candidate]:
    out = []
    for doc, values in confidences.items():
        for i, c in enumerate(values):
            out.append(Candidate(f"{doc}-{i}", doc, i, "en", f"t{doc}{i}", None, (), "", "", [], {}, c))
    return out


def test_uncertain_first_with_a_cap_per_document() -> None:
    cands = _cands({"a": [0.01, 0.02, 0.03, 0.04, 0.05], "b": [0.5, 0.1], "c": [0.9]})
    batch = choose(cands, "uncertain", k=4, max_per_doc=2)
    assert [c.id for c in batch] == ["a-0", "a-1", "b-1", "b-0"]  # a is capped at 2
    assert [c.rank for c in batch] == [1, 2, 3, 4]
    assert [c.confidence for c in batch] == sorted(c.confidence for c in batch)
    # the default cap: a fair share of up to four documents, all of it for one
    assert default_cap(8, 1) == 8 and default_cap(8, 2) == 4 and default_cap(8, 10) == 2
    # three documents, k=8: at most 3 from one; the batch stays short rather than break the cap
    assert [c.id for c in choose(cands, "uncertain", k=8)] == ["a-0", "a-1", "a-2", "b-1", "b-0", "c-0"]
    assert len(choose(cands, "uncertain", k=100, max_per_doc=1)) == 3


def test_random_is_seeded_and_all_keeps_document_order() -> None:
    cands = _cands({"a": [0.1] * 6, "b": [0.2] * 6})
    first = choose(cands, "random", k=5, seed=1)
    assert [c.id for c in first] == [c.id for c in choose(cands, "random", k=5, seed=1)]
    assert [c.id for c in first] != [c.id for c in choose(cands, "random", k=5, seed=2)]
    assert max(sum(c.doc == d for c in first) for d in "ab") <= 3
    assert [c.id for c in choose(cands, "all")] == [c.id for c in cands]


# --------------------------------------------------------------------------- the three exports


def test_labelstudio_export(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = export(tiny_model, "labelstudio", tmp_path / "ls", "--select", "uncertain", "-k", "8")
    assert sorted(p.name for p in out.iterdir()) == ["config.xml", "labels.json", "tasks.json"]
    assert "wrote 8 of 19 units from 2 document(s), most uncertain first" in capsys.readouterr().err
    labels = json.loads((tiny_model / "config.json").read_text())["id2label"]
    names = [labels[str(i)] for i in range(len(labels))]
    config = ET.fromstring((out / "config.xml").read_text(encoding="utf-8"))
    choices = config.find(".//Choices")
    assert choices is not None and choices.get("choice") == "multiple" and choices.get("toName") == "text"
    assert [c.get("value") for c in choices.iter("Choice")] == names
    hints = label_hints(names)
    assert all(c.get("hint") == hints[c.get("value") or ""] for c in choices.iter("Choice"))
    shown = {t.get("name") for t in config.iter("Text")}
    assert shown == {"previous", "text", "next"}  # the unit between its neighbours

    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    assert len(tasks) == 8
    scores = [t["predictions"][0]["score"] for t in tasks]
    assert scores == sorted(scores)  # most uncertain first, the score Label Studio sorts by
    assert [t["data"]["rank"] for t in tasks] == list(range(1, 9))
    assert max(sum(t["data"]["doc"] == d for t in tasks) for d in ("example-shop", "piemers")) <= 4
    for t in tasks:
        data = t["data"]
        assert {"id", "text", "doc", "unit", "lang", "kind", "section", "previous", "next"} <= set(data)
        assert data["lang"] == ("lv" if data["doc"] == "piemers" else "en")
        assert data["id"] == f"{data['doc']}-{data['unit']:04d}" and data["text"] in GOLD
        policy = FIXTURES / f"{data['doc']}.txt"
        lines = policy.read_text(encoding="utf-8").splitlines()
        assert data["text"] == lines[data["unit"]]
        assert data["previous"] == (lines[data["unit"] - 1] if data["unit"] else "(start of the policy)")
        (pred,) = t["predictions"]
        assert pred["model_version"].startswith(tiny_model.name + "-")
        for r in pred["result"]:
            assert r["from_name"] == "labels" and r["to_name"] == "text" and r["type"] == "choices"
            assert set(r["value"]["choices"]) <= set(names)
        assert set(t["meta"]["scores"]) == set(names)


def test_doccano_round_trip(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """doccano imports our JSONL (text, label, the rest metadata) and exports, for a project without
    collaborative annotation, a zip of USER.jsonl files: {"id", "text", **metadata, "label"}."""
    out = export(tiny_model, "doccano", tmp_path / "dc")
    assert (out / "guidelines.md").read_text(encoding="utf-8").count("| `") == len(DEFAULT_LABELS)
    records = read_jsonl(out / "tasks.jsonl")
    assert len(records) == len(GOLD) and all(
        {"text", "label", "unit_id", "uncertainty"} <= set(r) for r in records
    )

    def user_file(who: str, change: dict[str, list[str]]) -> str:
        lines = []
        for n, r in enumerate(records, start=1):
            meta = {k: v for k, v in r.items() if k not in ("text", "label")}
            label = change.get(r["text"], GOLD[r["text"]] if who == "anna" else [])
            lines.append(json.dumps({"id": n, "text": r["text"], **meta, "label": label, "Comments": []}))
        return "\n".join(lines) + "\n"

    retention = "We keep your order data for five years after the purchase."
    cookies = "We use cookies to remember the contents of your basket."
    zipped = tmp_path / "project.zip"
    with zipfile.ZipFile(zipped, "w") as zf:
        zf.writestr(zipfile.ZipInfo("anna.jsonl", (2026, 1, 1, 10, 0, 0)), user_file("anna", {}))
        later = {retention: ["retention", "data_categories"], cookies: ["cookies"]}
        zf.writestr(zipfile.ZipInfo("bob.jsonl", (2026, 1, 2, 10, 0, 0)), user_file("bob", later))
    units_path = tmp_path / "units.jsonl"
    assert cli(["data", "import", "doccano", str(zipped), "-o", str(units_path)]) == 0
    said = capsys.readouterr().out
    units = {u["text"]: u for u in read_jsonl(units_path)}
    assert len(units) == len(GOLD)
    assert units[retention]["labels"] == ["data_categories", "retention"]  # bob's, the later file
    assert units[retention]["annotator"] == "bob" and units[cookies]["labels"] == ["cookies"]
    assert all(u["source"] == "annotated" for u in units.values())
    assert units["Jūs varat iesniegt sūdzību Datu valsts inspekcijā."]["lang"] == "lv"
    assert "agreement on 2 units labelled by 2+ of 2 annotators: all agree on 50%" in said
    assert "1 unit(s) where annotators differ: the latest annotation is kept" in said
    assert cli(["data", "validate", str(units_path)]) == 0


def test_argilla_round_trip_with_its_record_types(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rg = pytest.importorskip("argilla")
    from unittest import mock

    from argilla.records._io import GenericIO, JsonIO

    out = export(tiny_model, "argilla", tmp_path / "ar", "--select", "random", "-k", "6", "--seed", "3")
    # The SDK's settings need a client only to talk to a server: an offline stand-in reads the file.
    monkeypatch.setattr(rg.Argilla, "_get_default", classmethod(lambda cls: mock.MagicMock()))
    settings = rg.Settings.from_json(out / "settings.json")
    (question,) = settings.questions
    assert question.name == "labels" and question.labels == list(DEFAULT_LABELS)
    assert [f.name for f in settings.fields] == ["text", "context"]
    assert "| `retention` | how long data is kept" in settings.guidelines

    records = JsonIO._records_from_json(out / "records.json")
    assert len(records) == 6
    annotator, reviewer = uuid.uuid4(), uuid.uuid4()
    for i, record in enumerate(records):
        suggestion = record.suggestions["labels"]
        assert suggestion.agent.startswith(tiny_model.name + "-")
        assert len(suggestion.score) == len(suggestion.value)
        assert 0.0 <= record.metadata["uncertainty"] <= 1.0 and record.metadata["rank"] == i + 1
        gold = GOLD[record.fields["text"]]
        record.responses.add(rg.Response("labels", gold, user_id=annotator, status="submitted"))
        if i < 2:
            other = (["purpose"] if gold != ["purpose"] else ["retention"]) if i == 0 else gold
            record.responses.add(rg.Response("labels", other, user_id=reviewer, status="submitted"))
    annotated = tmp_path / "annotated.json"
    JsonIO.to_json(records, annotated)  # the SDK's own file: a list of Record.to_dict()

    imported = import_annotations("argilla", annotated)
    by_text = {u["text"]: u for u in imported.units}
    first = records[0].fields["text"]
    assert len(by_text) == 6 and all(by_text[t]["labels"] == GOLD[t] for t in by_text if t != first)
    assert by_text[first]["labels"] == (["purpose"] if GOLD[first] != ["purpose"] else ["retention"])
    assert imported.agreement is not None
    assert imported.agreement["units"] == 2 and imported.agreement["exact"] == 0.5

    # The flattened form keeps each response's status: a draft is left out.
    records[5].responses.add(rg.Response("labels", ["purpose"], user_id=reviewer, status="draft"))
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps(GenericIO.to_list(records, flatten=True), default=str))
    again = import_annotations("argilla", flat)
    assert [u["labels"] for u in again.units] == [u["labels"] for u in imported.units]
    assert again.left_out == 1 and [u["id"] for u in again.units] == [u["id"] for u in imported.units]


# --------------------------------------------------------------------------- import: validation, formats


def _ls_task(tid: int, data: dict, *annotations: dict) -> dict:
    return {"id": tid, "data": data, "annotations": list(annotations)}


def _ls_annotation(aid: int, labels: list[str], who: int = 1, when: str = "2026-01-01T10:00:00Z") -> dict:
    result = [{"from_name": "labels", "to_name": "text", "type": "choices", "value": {"choices": labels}}]
    return {"id": aid, "completed_by": who, "result": result, "was_cancelled": False, "updated_at": when}


UNIT = {
    "id": "shop-0003",
    "text": "We keep your data for five years.",
    "doc": "shop",
    "unit": 3,
    "lang": "en",
}


@pytest.mark.parametrize(
    ("labels", "data", "message"),
    [
        (["retention", "storage"], UNIT, "unknown label(s) 'storage'"),
        ([], UNIT, "no labels (use 'other' when nothing else applies)"),
        (["other", "retention"], UNIT, "'other' is exclusive but is combined with ['retention', 'other']"),
        (["retention"], {k: v for k, v in UNIT.items() if k != "text"}, "empty text"),
        (["retention"], {**UNIT, "lang": "de"}, "lang must be one of en, lv, not 'de'"),
        (["retention"], {**UNIT, "text": 5}, "text must be a string, not a number"),
        (
            ["retention"],
            {k: v for k, v in UNIT.items() if k != "lang"},
            "no lang: give each record a 'lang' field",
        ),
    ],
    ids=[
        "unknown-label",
        "empty-set",
        "other-combined",
        "missing-text",
        "bad-lang",
        "number-text",
        "no-lang",
    ],
)
def test_a_bad_record_is_one_message_naming_it_and_nothing_is_written(
    labels: list[str], data: dict, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = {**UNIT, "id": "shop-0004", "unit": 4, "text": "We use cookies."}
    export_file = tmp_path / "export.json"
    tasks = [_ls_task(1, good, _ls_annotation(1, ["cookies"])), _ls_task(7, data, _ls_annotation(9, labels))]
    export_file.write_text(json.dumps(tasks))
    out = tmp_path / "units.jsonl"
    assert cli(["data", "import", "labelstudio", str(export_file), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("clausetag: error:") == 1 and "Traceback" not in err
    assert f"{export_file}: task 7 ({data.get('id')}), annotation 9: {message}" in err
    assert not out.exists() and list(tmp_path.iterdir()) == [export_file]


def test_malformed_exports_are_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = {
        "labelstudio": ('[{"text": "flat", "labels": {"choices": ["other"]}}]', "not JSON_MIN"),
        "labelstudio-object": (
            '{"tasks": []}',
            "expected a list of Label Studio tasks, not an object with 'tasks'",
        ),
        "argilla": ('{"records": []}', "expected a list of Argilla records"),
        "doccano": ('{"text": "a"}\n', "no 'label' list"),
    }
    for tool, (content, message) in cases.items():
        bad = tmp_path / f"{tool}.json"
        bad.write_text(content)
        assert cli(["data", "import", tool.split("-")[0], str(bad), "-o", str(tmp_path / "o.jsonl")]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    not_json = tmp_path / "export.json"
    not_json.write_text("[{")
    assert cli(["data", "import", "labelstudio", str(not_json), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


BAD_FILES = {
    "empty.json": (
        b"",
        {"labelstudio": "the file is empty", "doccano": "holds no records", "argilla": "is empty"},
    ),
    "binary.json": (bytes(range(256)) * 2, "looks like a binary file"),
    "latin1.json": ('[{"text": "caf\xe9"}]'.encode("latin-1"), "not valid UTF-8"),
    "fake.zip": (b"not a zip", {"doccano": "cannot read the zip file", "*": "not valid JSON"}),
    "nojsonl.zip": (None, {"doccano": "the zip holds no .jsonl file", "*": "looks like a binary file"}),
}


@pytest.mark.parametrize("tool", ["labelstudio", "doccano", "argilla"])
def test_bad_files_are_one_message_for_every_tool(
    tool: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, (content, said) in BAD_FILES.items():
        bad = tmp_path / name
        if content is None:
            with zipfile.ZipFile(bad, "w") as zf:
                zf.writestr("notes.txt", "no export here")
        else:
            bad.write_bytes(content)
        message = said if isinstance(said, str) else said.get(tool, said.get("*", ""))
        out = tmp_path / "o.jsonl"
        assert cli(["data", "import", tool, str(bad), "-o", str(out)]) == 2, (tool, name)
        err = capsys.readouterr().err
        assert err.count("clausetag: error:") == 1 and err.count("\n") == 1 and "Traceback" not in err, err
        assert f"{bad}" in err and message in err, (tool, name, err)
        assert not out.exists()


def test_latest_annotation_wins_and_agreement_is_measured(tmp_path: Path) -> None:
    from clausetag.data.annotations import read_labelstudio

    tasks = [
        _ls_task(
            1,
            UNIT,
            _ls_annotation(1, ["retention"], who=1, when="2026-01-01T10:00:00Z"),
            _ls_annotation(2, ["retention", "purpose"], who=2, when="2026-01-03T10:00:00Z"),
            _ls_annotation(3, ["retention"], who=1, when="2026-01-02T10:00:00Z"),
            {**_ls_annotation(4, ["other"], who=3, when="2026-01-04T10:00:00Z"), "was_cancelled": True},
        ),
        _ls_task(2, {**UNIT, "id": "shop-0004", "unit": 4, "text": "Cookies."}),
    ]
    path = tmp_path / "e.json"
    path.write_text(json.dumps(tasks))
    imported = annotated_units(read_labelstudio(path), DEFAULT_LABELS)
    (unit,) = imported.units
    assert unit["labels"] == ["purpose", "retention"] and unit["annotator"] == "2"  # type: ignore[typeddict-item]
    assert imported.unannotated == 1 and imported.left_out == 1 and imported.overruled == 1
    report = imported.agreement
    assert report is not None and report["units"] == 1 and report["exact"] == 0.0 and report["jaccard"] == 0.5


def test_krippendorff_alpha() -> None:
    assert krippendorff_binary([[1, 1], [0, 0], [1, 1]]) == 1.0
    assert krippendorff_binary([[1, 1], [1, 1]]) is None  # no variation: undefined
    assert krippendorff_binary([[1, 0], [0, 1]]) == pytest.approx(-0.5)
    # Against the general definition (coincidence matrix) on an uneven case.
    values = [[1, 1, 0], [0, 0], [1, 1], [0, 1], [1, 1, 1, 0]]
    o = np.zeros((2, 2))
    for v in values:
        for i, a in enumerate(v):
            for j, b in enumerate(v):
                if i != j:
                    o[a, b] += 1 / (len(v) - 1)
    n_c, n = o.sum(1), o.sum()
    expected = 1 - (n - 1) * (o[0, 1] + o[1, 0]) / (2 * n_c[0] * n_c[1])
    assert krippendorff_binary(values) == pytest.approx(expected)
    sets = [[frozenset({"a"}), frozenset({"a", "b"})], [frozenset(), frozenset()]]
    report = agreement(sets, ["a", "b"])
    assert report is not None and report["exact"] == 0.5 and report["jaccard"] == 0.75


def test_import_verb_and_the_old_opp115_spelling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    fixture = Path(__file__).resolve().parent / "fixtures" / "opp115"
    new, old = tmp_path / "new" / "opp.jsonl", tmp_path / "old" / "opp.jsonl"
    assert cli(["data", "import", "opp115", str(fixture), "-o", str(new)]) == 0
    assert cli(["data", "import-opp115", str(fixture), "-o", str(old)]) == 0
    assert new.read_text() == old.read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli(["data", "--help"])
    shown = capsys.readouterr().out
    assert "import-opp115" not in shown and "{validate,stats,import,opp115-mapping}" in shown
    assert cli(["data", "import", "opp115", str(fixture), "-o", str(new), "--lang", "en"]) == 2


@pytest.mark.parametrize("argv", [["annotate", "export"], ["data", "import"]], ids=" ".join)
def test_the_new_writers_share_the_option_vocabulary(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli([*argv, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert ("-o DIR, --output DIR" in text or "-o PATH, --output PATH" in text) and "--overwrite" in text
    assert all(old not in text for old in ("--out ", "--output_dir", "--force", "--batch_size"))


def test_export_refusals(tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["annotate", "export", "--model", str(tiny_model), "--format", "labelstudio"]
    assert cli([*base, "-o", str(tmp_path / "x"), "-k", "3", str(POLICIES[0])]) == 2
    assert "-k and --max-per-doc go with --select uncertain or random" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    assert cli([*base, "-o", str(busy), str(POLICIES[0])]) == 2
    assert "pass --overwrite" in capsys.readouterr().err and (busy / "mine.txt").exists()
    assert cli([*base, "-o", str(tmp_path / "y"), str(tmp_path / "absent.txt")]) == 2
    assert not (tmp_path / "y").exists()


def test_overwriting_the_export_replaces_the_folder_whole(tiny_model: Path, tmp_path: Path) -> None:
    out = export(tiny_model, "labelstudio", tmp_path / "ls")
    (out / "stale.txt").write_text("old")
    export(tiny_model, "doccano", out, "--overwrite")
    assert sorted(p.name for p in out.iterdir()) == ["guidelines.md", "labels.json", "tasks.jsonl"]


# --------------------------------------------------------------------------- train --extra_train_file


def _units_file(path: Path, doc: str, n: int, label: str = "retention") -> Path:
    rows = [
        {"id": f"{doc}-{i}", "doc": doc, "lang": "en", "text": f"We keep {doc} data for {i + 2} years.",
         "labels": [label], "source": "annotated"}
        for i in range(n)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_extra_train_files_add_to_the_corpus_and_stay_whole(small_corpus: Path, tmp_path: Path) -> None:
    from clausetag.training.args import parse_args
    from clausetag.training.train import load_splits

    a, b = _units_file(tmp_path / "a.jsonl", "new-a", 5), _units_file(tmp_path / "b.jsonl", "new-b", 3)
    argv = ["--train_file", str(small_corpus), "--extra_train_file", str(a), "--extra_train_file", str(b)]
    data_args, _, _ = parse_args([*argv, "--output_dir", str(tmp_path / "m"), "--dev_docs", "004", "new-b"])
    assert data_args.extra_train_file == [str(a), str(b)]  # repeatable
    _, train, dev, _ = load_splits(data_args, seed=42)
    base = sum(1 for _ in small_corpus.open())
    assert len(train) + len(dev) == base + 8
    assert sum(u.get("_extra") == str(a) for u in train) == 5 and all(u["doc"] != "new-a" for u in dev)
    assert sum(u.get("_extra") == str(b) for u in dev) == 3  # a named dev document comes whole

    from clausetag.training.model_card import _extra_files

    line = _extra_files(data_args, train, dev)
    assert f"`{a}` (5 train, 0 dev units from 1 documents)" in line
    assert f"`{b}` (0 train, 3 dev units from 1 documents)" in line


def test_extra_train_file_checks(small_corpus: Path, tmp_path: Path) -> None:
    from clausetag.training.args import DataArguments
    from clausetag.training.train import load_splits

    a = _units_file(tmp_path / "a.jsonl", "new-a", 2)
    with pytest.raises(ClausetagError, match="no such file or directory"):
        DataArguments(train_file=str(small_corpus), extra_train_file=[str(tmp_path / "absent.jsonl")])
    with pytest.raises(ClausetagError, match="given twice"):
        DataArguments(train_file=str(small_corpus), extra_train_file=[str(a), str(a)])
    with pytest.raises(ClausetagError, match=r"given twice \(also --train_file\)"):
        DataArguments(train_file=str(small_corpus), extra_train_file=[str(small_corpus)])
    clash = _units_file(tmp_path / "clash.jsonl", "new-a", 1, label="purpose")  # id new-a-0 again
    args = DataArguments(train_file=str(small_corpus), extra_train_file=[str(a), str(clash)])
    with pytest.raises(ClausetagError, match=r"duplicate id 'new-a-0' \(first at .*a.jsonl:1\)"):
        load_splits(args, seed=42)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "doc": "x", "lang": "en", "text": "t", "labels": ["nope"]}) + "\n")
    with pytest.raises(ClausetagError, match=r"bad\.jsonl:1: unknown label"):
        load_splits(DataArguments(train_file=str(small_corpus), extra_train_file=[str(bad)]), seed=42)
