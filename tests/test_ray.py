"""``clausetag predict --engine ray`` and ``ClauseTagger`` on a local Ray (2 CPUs), tiny model."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from clausetag.cli import main as cli
from clausetag.inference import ClauseClassifier

ray = pytest.importorskip("ray")

POLICY_EN = """Privacy Policy
1. Who we are
Example Ltd is the controller. Write to privacy@example.com.
We keep invoices for 5 years. You may withdraw your consent at any time.
"""
POLICY_LV = """# Privātuma politika
Dati tiek glabāti 5 gadus. Jums ir tiesības iesniegt sūdzību Datu valsts inspekcijā.
"""
POLICY_HTML = "<html><body><h1>Cookies</h1><p>We use cookies. <b>You can object.</b></p></body></html>"


def _jsonl(*records: dict) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)


@pytest.fixture(scope="module")
def local_ray():  # type: ignore[no-untyped-def]
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(
        num_cpus=2,
        object_store_memory=200 * 1024 * 1024,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()


@pytest.fixture
def inputs(tmp_path: Path) -> Path:
    """Policies in three formats and two JSONL files, the second going on with a doc of the first."""
    src = tmp_path / "in"
    src.mkdir()
    (src / "shop.txt").write_text(POLICY_EN, encoding="utf-8")
    (src / "lv.md").write_text(POLICY_LV, encoding="utf-8")
    (src / "page.html").write_text(POLICY_HTML, encoding="utf-8")
    (src / "a.jsonl").write_text(
        _jsonl({"doc": "crm", "id": "c1", "text": "We share data with couriers."}, {"text": "Minors: 13+."}),
        encoding="utf-8",
    )
    (src / "b.jsonl").write_text(_jsonl({"doc": "crm", "text": "Data stays in the EU."}), encoding="utf-8")
    return src


def read_records(path: Path) -> list[dict]:
    files = sorted(path.glob("part-*.jsonl")) if path.is_dir() else [path]
    records = [json.loads(line) for f in files for line in f.read_text(encoding="utf-8").splitlines()]
    return sorted(records, key=lambda r: (r["doc"], r["unit"]))


def predict(model: Path, *args: str) -> int:
    return cli(["predict", "--model", str(model), "--quiet", *args])


def ray_predict(model: Path, out: Path, *args: str) -> int:
    return predict(model, "--engine", "ray", "-o", str(out), *args)


def summary(out: Path) -> dict:
    return json.loads((out / "_summary.json").read_text(encoding="utf-8"))


def test_importing_the_module_imports_no_ray() -> None:
    code = (
        "import json, sys\n"
        "import clausetag.inference, clausetag.inference.ray_engine, clausetag.inference.cli\n"
        "print(json.dumps('ray' in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) is False


def test_same_records_as_the_single_process_run(
    tiny_model: Path, inputs: Path, tmp_path: Path, local_ray: object
) -> None:
    local = tmp_path / "local.jsonl"
    names = [str(inputs / n) for n in ("shop.txt", "lv.md", "page.html", "a.jsonl", "b.jsonl")]
    assert predict(tiny_model, *names, "-o", str(local)) == 0
    out = tmp_path / "out"
    globs = [str(inputs / f"*.{suffix}") for suffix in ("txt", "md", "html", "jsonl")]  # quoted globs
    assert ray_predict(tiny_model, out, *globs, "--workers", "2") == 0
    assert read_records(out) == read_records(local)
    assert len(list(out.glob("part-*.jsonl"))) == 5
    done = summary(out)
    assert (done["status"], done["written"], done["failed"]) == ("complete", 5, [])
    assert {r["doc"]: r["unit"] for r in read_records(out) if r["doc"] == "crm"} == {"crm": 1}


def test_parquet_partitions_hold_the_same_records(
    tiny_model: Path, inputs: Path, tmp_path: Path, local_ray: object
) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    local = tmp_path / "local.jsonl"
    assert predict(tiny_model, str(inputs), "-o", str(local)) == 0
    out = tmp_path / "out"
    assert ray_predict(tiny_model, out, str(inputs), "--format", "parquet", "--workers", "1") == 0
    rows = pq.read_table(out).to_pylist()  # one schema for all partitions; absent fields are null
    rows = sorted(
        ({k: v for k, v in r.items() if v is not None} for r in rows), key=lambda r: (r["doc"], r["unit"])
    )
    assert rows == read_records(local)


def test_restart_after_an_interrupted_run(
    tiny_model: Path, inputs: Path, tmp_path: Path, local_ray: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from clausetag.inference import ray_run as engine

    local = tmp_path / "local.jsonl"
    assert predict(tiny_model, str(inputs), "-o", str(local)) == 0
    out = tmp_path / "out"
    add = engine.Tally.add

    def interrupt_after_first(self: engine.Tally, outcome: engine.Outcome) -> None:
        add(self, outcome)
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.Tally, "add", interrupt_after_first)
    assert ray_predict(tiny_model, out, str(inputs), "--workers", "1") == 130
    monkeypatch.undo()
    assert summary(out)["status"] == "interrupted"
    parts = sorted(out.glob("part-*.jsonl"))
    assert 1 <= len(parts) < 5
    want = {(r["doc"], r["unit"]): r for r in read_records(local)}
    for part in parts:  # whatever is there is whole
        assert all(want[(r["doc"], r["unit"])] == r for r in read_records(part))
    # a writer killed mid-partition leaves only a hidden temporary file
    stale = out / f".{engine.partition_path(out, str(inputs / 'shop.txt'), 'jsonl').name}.abcd1234.tmp"
    stale.write_text('{"doc": "shop", "unit": 0, "te', encoding="utf-8")

    assert ray_predict(tiny_model, out, str(inputs)) == 2  # earlier partitions: --resume or elsewhere
    assert ray_predict(tiny_model, out, str(inputs), "--resume", "--threshold", "0.3") == 2  # other settings
    assert ray_predict(tiny_model, out, str(inputs), "--resume", "--workers", "2") == 0
    assert read_records(out) == read_records(local)
    assert not stale.exists()
    again = summary(out)
    assert (again["status"], again["skipped"], again["written"]) == ("complete", len(parts), 5 - len(parts))


def test_a_broken_input_is_reported_and_the_rest_is_tagged(
    tiny_model: Path, inputs: Path, tmp_path: Path, local_ray: object, capsys: pytest.CaptureFixture[str]
) -> None:
    local = tmp_path / "local.jsonl"
    good = [str(inputs / "shop.txt"), str(inputs / "a.jsonl")]
    assert predict(tiny_model, *good, "-o", str(local)) == 0
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00")
    (bad / "latin1.md").write_bytes("Données privées.".encode("latin-1"))
    (bad / "broken.jsonl").write_text('{"text": "ok"}\n{"text": \n', encoding="utf-8")
    out = tmp_path / "out"
    capsys.readouterr()
    assert ray_predict(tiny_model, out, good[0], str(bad), good[1], str(bad / "missing.txt")) == 0
    assert read_records(out) == read_records(local)
    failed = {Path(f["input"]).name: f["reason"] for f in summary(out)["failed"]}
    assert set(failed) == {"binary.txt", "latin1.md", "broken.jsonl", "missing.txt"}
    assert "binary" in failed["binary.txt"] and "UTF-8" in failed["latin1.md"]
    assert "broken.jsonl:2" in failed["broken.jsonl"] and "no such file" in failed["missing.txt"]
    err = capsys.readouterr().err
    assert "4 inputs failed" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("address", "message"),
    [("127.0.0.1:1", "no Ray cluster answers there"), ("my-cluster", "expected HOST:PORT")],
)
def test_a_bad_address_is_one_clear_message(
    tiny_model: Path,
    inputs: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    address: str,
    message: str,
) -> None:
    out = tmp_path / "out"
    assert ray_predict(tiny_model, out, str(inputs / "shop.txt"), "--address", address) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not list(out.glob("part-*"))


def test_without_ray_it_says_what_to_install(
    tiny_model: Path,
    inputs: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)
    assert ray_predict(tiny_model, tmp_path / "out", str(inputs)) == 2
    assert "pip install 'clausetag[ray]'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args", [["--workers", "2"], ["--address", "auto"], ["--format", "parquet", "-o", "x.parquet"]]
)
def test_ray_options_need_the_ray_engine(tiny_model: Path, inputs: Path, args: list[str]) -> None:
    assert predict(tiny_model, str(inputs / "shop.txt"), *args) == 2


def test_clause_tagger_in_a_ray_data_pipeline(tiny_model: Path, local_ray: object) -> None:
    from clausetag.inference.ray_engine import ClauseTagger

    ray.data.DataContext.get_current().enable_progress_bars = False
    texts = [
        "We keep invoices for 5 years.",
        "Jums ir tiesības iesniegt sūdzību.",
        "We use cookies.",
        "x",
    ] * 3
    ds = ray.data.from_items([{"text": t, "n": i} for i, t in enumerate(texts)])
    tagged = ds.map_batches(
        ClauseTagger, fn_constructor_kwargs={"model": str(tiny_model)}, concurrency=1, batch_size=5
    )
    rows = sorted(tagged.take_all(), key=lambda r: r["n"])
    want = ClauseClassifier.from_pretrained(tiny_model).predict(texts)
    assert [r["text"] for r in rows] == texts
    assert [list(r["labels"]) for r in rows] == [p.labels for p in want]
    for row, pred in zip(rows, want, strict=True):
        assert row["scores"] == pytest.approx(pred.scores, abs=1e-4)
