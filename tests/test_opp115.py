"""OPP-115: import (consolidation CSVs and benchmark splits), mapping, training, benchmark.

The fixture under tests/fixtures/opp115/ is invented text in OPP-115's file
layouts; the real corpus is used only when ../shared/opp115 is present.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from helpers import REPO, SHARED

from clausetag.cli import main as cli
from clausetag.data.opp115 import (
    OPP115_CATEGORIES,
    OTHER_TYPE,
    TO_OPP115,
    from_opp115,
    mapping_markdown,
    one_to_one,
    opp115_names,
    to_opp115,
)
from clausetag.labels import DEFAULT_LABELS

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "opp115"
CONSOLIDATION = FIXTURE / "consolidation" / "threshold-0.75-overlap-similarity"
MAJORITY = FIXTURE / "benchmark_splits" / "Majority"
REAL = SHARED / "opp115"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def import_fixture(tmp_path: Path, source: Path = FIXTURE, name: str = "opp/opp115.jsonl") -> Path:
    out = tmp_path / name
    assert cli(["data", "import-opp115", str(source), "--out", str(out)]) == 0
    return out


def test_import_consolidation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = import_fixture(tmp_path)
    assert "segments without a category (skipped): 1" in capsys.readouterr().out
    units = read_jsonl(out)
    assert len(units) == 30  # 31 segments, one without a category
    assert json.loads((out.parent / "labels.json").read_text()) == list(OPP115_CATEGORIES)
    by_id = {u["id"]: u for u in units}
    shared = by_id["9001_acme-books.example:2"]
    assert shared["doc"] == "9001" and shared["lang"] == "en" and shared["source"] == "seed"
    assert shared["labels"] == ["First Party Collection/Use", "Third Party Sharing/Collection"]
    assert "&" in shared["text"] and "&amp;" not in shared["text"]
    assert by_id["9001_acme-books.example:1"]["labels"] == ["First Party Collection/Use"]  # two annotators
    assert "9001_acme-books.example:4" not in by_id  # the segment nobody annotated
    assert not any("<" in u["text"] or "  " in u["text"] for u in units)
    assert {u["doc"] for u in units} == {"9001", "9002", "9003", "9004", "9005"}
    assert {x for u in units for x in u["labels"]} == set(OPP115_CATEGORIES)
    assert cli(["data", "validate", str(out)]) == 0


def test_import_accepts_every_level_of_the_layout(tmp_path: Path) -> None:
    for k, source in enumerate([FIXTURE / "consolidation", CONSOLIDATION]):
        assert len(read_jsonl(import_fixture(tmp_path, source, f"{k}/o.jsonl"))) == 30
    one = CONSOLIDATION / "9002_blue-kettle.example.csv"
    assert {u["doc"] for u in read_jsonl(import_fixture(tmp_path, one, "one/o.jsonl"))} == {"9002"}


def test_refuses_overwrite_and_foreign_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = import_fixture(tmp_path)
    assert cli(["data", "import-opp115", str(FIXTURE), "--out", str(out)]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert cli(["data", "import-opp115", str(FIXTURE), "--out", str(out), "--force"]) == 0
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    (mixed / "ours.jsonl").write_text('{"text": "x", "lang": "en", "labels": ["other"]}\n')
    assert cli(["data", "import-opp115", str(FIXTURE), "--out", str(mixed / "opp.jsonl")]) == 2
    assert "folder of its own" in capsys.readouterr().err
    assert not (mixed / "opp.jsonl").exists() and not (mixed / "labels.json").exists()


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (3, "C9,b,1,1,2,Data Sharing,{},x,y", "unknown category 'Data Sharing'"),
        (2, "C9,b,1,1,1,Data Retention", "expected 9 columns"),
        (2, "C9,b,1,1,one,Data Retention,{},x,y", "segment id 'one' is not a number"),
        (4, "C9,b,1,1,42,Data Retention,{},x,y", "segment 42 does not exist"),
    ],
)
def test_bad_csv_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: int, replacement: str, message: str
) -> None:
    copy = tmp_path / "opp115"
    shutil.copytree(FIXTURE, copy)
    csv_path = copy / "consolidation" / "threshold-0.75-overlap-similarity" / "9001_acme-books.example.csv"
    rows = csv_path.read_text(encoding="utf-8").splitlines()
    rows[line - 1] = replacement
    csv_path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "out" / "o.jsonl"
    assert cli(["data", "import-opp115", str(copy), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"{csv_path}:{line}:" in err and message in err
    assert not out.exists()


def test_missing_policy_text_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "opp115"
    shutil.copytree(FIXTURE, copy)
    (copy / "sanitized_policies" / "9003_north-trail.example.html").unlink()
    assert cli(["data", "import-opp115", str(copy), "--out", str(tmp_path / "o" / "o.jsonl")]) == 2
    assert "9003_north-trail.example.html is missing" in capsys.readouterr().err


def test_import_benchmark_split_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "majority"
    assert cli(["data", "import-opp115", str(MAJORITY), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "#NAME?, skipped): 1" in printed and "texts of unknown policy: 1" in printed
    parts = {name: read_jsonl(out / f"{name}.jsonl") for name in ("train", "validation", "test")}
    train = {u["text"]: u for u in parts["train"]}
    assert len(parts["train"]) == 19 and "#NAME?" not in train
    shared = next(u for u in parts["train"] if u["text"].startswith("We pass your address"))
    assert shared["labels"] == ["First Party Collection/Use", "Third Party Sharing/Collection"]
    invented = next(u for u in parts["train"] if u["doc"] == "unknown")
    assert '"cookie"' in invented["text"] and '""' not in invented["text"]
    assert invented["labels"] == ["Other"]  # "Practice not covered" is an Other sub-type

    def doc_of(start: str) -> str:
        return next(u["doc"] for u in parts["test"] if u["text"].startswith(start))

    assert doc_of("Scores are shared") == "9005"  # the published splits leak policies
    assert doc_of("We may change this notice") == "9002"  # boilerplate of 9002 and 9004: lowest id
    assert cli(["data", "validate", str(out / "test.jsonl")]) == 0
    assert cli(["data", "import-opp115", str(MAJORITY), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "pass a folder as --out" in capsys.readouterr().err


def test_import_one_benchmark_csv(tmp_path: Path) -> None:
    out = import_fixture(tmp_path, MAJORITY / "validation_dataset.csv", "v/validation.jsonl")
    units = read_jsonl(out)
    assert len(units) == 6 and {u["doc"] for u in units} == {"9003"}
    assert units[4]["labels"] == ["International and Specific Audiences", "Other"]


def test_unknown_benchmark_label_names_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "test_dataset.csv"
    bad.write_text("Some text,Data Retention\nOther text,Cookies\n", encoding="utf-8")
    assert cli(["data", "import-opp115", str(bad), "--out", str(tmp_path / "o" / "o.jsonl")]) == 2
    assert f"{bad}:2: unknown label 'Cookies'" in capsys.readouterr().err


def test_train_and_evaluate_on_imported_fixture(tiny_encoder: Path, tmp_path: Path) -> None:
    data = import_fixture(tmp_path)
    model = tmp_path / "model"
    argv = ["train", "--model_name_or_path", str(tiny_encoder), "--train_file", str(data)]
    argv += ["--dev_docs", "9005", "--output_dir", str(model), "--num_train_epochs", "1"]
    assert cli([*argv, "--max_length", "32", "--disable_tqdm", "true"]) == 0
    config = json.loads((model / "config.json").read_text())
    assert [config["id2label"][str(i)] for i in range(10)] == list(OPP115_CATEGORIES)
    assert cli(["evaluate", "--model", str(model), "--data", str(data), "--bootstrap", "0"]) == 0


def test_one_to_one_pairs() -> None:
    assert one_to_one() == {
        "retention": "Data Retention",
        "security": "Data Security",
        "rights": "User Access, Edit and Deletion",
        "user_choice": "User Choice/Control",
        "children": "International and Specific Audiences",
        "policy_changes": "Policy Change",
    }
    assert set(TO_OPP115) == set(DEFAULT_LABELS)
    assert all(t in OPP115_CATEGORIES for targets in TO_OPP115.values() for t in targets)
    assert opp115_names(["cookies"]) == [
        "First Party Collection/Use",
        "Third Party Sharing/Collection",
        "Do Not Track",
    ]
    assert opp115_names(["controller", "other"]) == ["Other"]


def test_mapping_round_trip() -> None:
    rng = np.random.default_rng(0)
    ours = rng.integers(0, 2, size=(200, len(DEFAULT_LABELS)))
    projected = to_opp115(ours)
    assert projected.shape == (200, 10)
    cookies = ours[:, DEFAULT_LABELS.index("cookies")] == 1
    assert projected[cookies, OPP115_CATEGORIES.index("Do Not Track")].all()
    back, names = from_opp115(projected)
    assert names == list(one_to_one())
    assert np.array_equal(back, ours[:, [DEFAULT_LABELS.index(x) for x in names]])
    # and from OPP-115 gold: ours -> OPP-115 restores the one-to-one categories exactly
    gold = rng.integers(0, 2, size=(200, 10))
    mine, names = from_opp115(gold)
    full = np.zeros((200, len(DEFAULT_LABELS)), dtype=int)
    full[:, [DEFAULT_LABELS.index(x) for x in names]] = mine
    cols = [OPP115_CATEGORIES.index(one_to_one()[x]) for x in names]
    assert np.array_equal(to_opp115(full)[:, cols], gold[:, cols])
    # a model's own label order is honoured
    order = list(reversed(DEFAULT_LABELS))
    assert np.array_equal(to_opp115(ours[:, ::-1], order), projected)


def test_mapping_table_is_in_the_docs() -> None:
    doc = (REPO / "data" / "OPP115.md").read_text(encoding="utf-8")
    assert mapping_markdown() in doc, "regenerate the table in data/OPP115.md from mapping_markdown()"


@pytest.mark.skipif(not (SHARED / "spec" / "labels.md").is_file(), reason="../shared/spec absent")
def test_mapping_follows_the_spec() -> None:
    spec = (SHARED / "spec" / "labels.md").read_text(encoding="utf-8")
    for row in re.findall(r"^\| `(\w+)` \|.*\| ([^|]+) \|$", spec, flags=re.M):
        label, cell = row
        targets = [t.strip() for t in cell.split(";")]
        expected = tuple(re.sub(r"\s*\(.*\)$", "", t) for t in targets)
        assert TO_OPP115[label] == expected, label
        sub = re.search(r"\((.*)\)", cell)
        assert OTHER_TYPE.get(label, "").lower() == (sub.group(1) if sub else ""), label


def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("opp115_benchmark", REPO / "benchmarks" / "opp115.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_benchmark_smoke(tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_benchmark()
    argv = ["--tiny", "--opp115", str(FIXTURE), "--work", str(tmp_path), "--score-model", str(tiny_model)]
    assert bench.main([*argv, "--", "--num_train_epochs", "1", "--disable_tqdm", "true"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert [len(v) for v in results["policies"].values()] == [3, 1, 1]
    assert not set(results["policies"]["train"]) & set(results["policies"]["test"])
    assert len(results["results"]) == 3
    assert all(0.0 <= r["macro_f1"] <= 1.0 for r in results["results"])
    assert "PrivBERT (published)" in capsys.readouterr().out
    for part in ("baseline", "transformer/opp115-test", "own-scheme"):
        assert (tmp_path / part / "metrics.json").is_file(), part


@pytest.mark.skipif(not (REAL / "consolidation").is_dir(), reason="OPP-115 is not under ../shared/opp115")
def test_real_corpus_counts(tmp_path: Path) -> None:
    """The real corpus: 115 policies, 3 792 segments of which one has no category."""
    out = import_fixture(tmp_path, REAL)
    units = read_jsonl(out)
    assert len({u["doc"] for u in units}) == 115
    assert len(units) == 3791
    assert {x for u in units for x in u["labels"]} == set(OPP115_CATEGORIES)
    assert cli(["data", "validate", str(out)]) == 0
    majority = tmp_path / "majority"
    assert (
        cli(["data", "import-opp115", str(REAL / "benchmark_splits" / "Majority"), "--out", str(majority)])
        == 0
    )
    test_docs = {u["doc"] for u in read_jsonl(majority / "test.jsonl")}
    train_docs = {u["doc"] for u in read_jsonl(majority / "train.jsonl")}
    assert len(test_docs & train_docs) > 100  # why the benchmark here splits by policy
