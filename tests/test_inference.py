"""The Python API and the predict/report commands, round trip, on the tiny model."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from clausetag.cli import main as cli
from clausetag.errors import ClausetagError
from clausetag.inference import ClauseClassifier
from clausetag.inference.resume import fingerprint_path

EN_POLICY = """Privacy Policy

1. Who we are
Example Ltd, reg. No. 40003123456, is the controller. Write to privacy@example.com.
2. What we collect
- your name and e-mail address;
- your order history, e.g. invoices.
We keep invoices for 5 years. You may withdraw your consent at any time.
"""
LV_POLICY = """Privātuma politika
1. Pārzinis
SIA Piemērs, reg. Nr. 40003123456, ir pārzinis. Rakstiet uz info@piemers.lv.
Dati tiek glabāti 5 gadus, piem. rēķini. Jums ir tiesības iesniegt sūdzību Datu valsts inspekcijā.
"""
HTML_POLICY = """<!DOCTYPE html><html><head><title>Privacy</title>
<style>body { color: red }</style><script>var x = "We sell your data.";</script></head>
<body><h1>Privacy &amp; cookies</h1><p>We keep data for
5 years. You can object.</p><ul><li>Name;</li><li>E-mail.</li></ul></body></html>"""


@pytest.fixture(scope="module")
def clf(tiny_model: Path) -> ClauseClassifier:
    return ClauseClassifier.from_pretrained(tiny_model)


# --------------------------------------------------------------------------- API


def test_predict_proba_shape_range_and_batch_invariance(clf: ClauseClassifier) -> None:
    texts = ["We keep invoices for 5 years.", "Dati tiek glabāti 5 gadus.", "x", "word " * 5000]
    proba = clf.predict_proba(texts, batch_size=3)
    assert proba.shape == (4, len(clf.labels))
    assert proba.dtype == np.float32 and np.all((proba >= 0) & (proba <= 1))
    # Length-sorted batching must not change anything but speed.
    np.testing.assert_allclose(clf.predict_proba(texts, batch_size=1), proba, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(texts[::-1], batch_size=2)[::-1], proba, atol=1e-5)
    assert clf.predict_proba([]).shape == (0, len(clf.labels))


def test_predict_uses_saved_thresholds_or_override(clf: ClauseClassifier) -> None:
    texts = ["You may withdraw your consent at any time.", "Jums ir tiesības iesniegt sūdzību."]
    proba = clf.predict_proba(texts)
    for pred, row in zip(clf.predict(texts), proba, strict=True):
        assert list(pred.scores) == clf.labels
        assert [pred.scores[x] for x in clf.labels] == pytest.approx(row, abs=1e-4)
        want = {x for x, p, t in zip(clf.labels, row, clf.thresholds, strict=True) if p >= t}
        if want - {"other"}:
            want.discard("other")  # exclusive: only when nothing else passes
        assert set(pred.labels) == want
        assert [pred.scores[x] for x in pred.labels] == sorted(
            (pred.scores[x] for x in pred.labels), reverse=True
        )
    assert all(p.labels == [] for p in clf.predict(texts, threshold=1.0))
    assert all(set(p.labels) == set(clf.labels) - {"other"} for p in clf.predict(texts, threshold=0.0))


def test_predict_refuses_a_bare_string(clf: ClauseClassifier) -> None:
    with pytest.raises(ClausetagError, match="list of texts"):
        clf.predict("We keep data.")  # type: ignore[arg-type]
    with pytest.raises(ClausetagError, match="must be strings"):
        clf.predict(["ok", 3])  # type: ignore[list-item]


@pytest.mark.parametrize(("policy", "lang"), [(EN_POLICY, "en"), (LV_POLICY, "lv"), (EN_POLICY, None)])
def test_tag_document_matches_predict(clf: ClauseClassifier, policy: str, lang: str | None) -> None:
    units = clf.tag_document(policy, lang=lang)
    assert [u.index for u in units] == list(range(len(units)))
    for u in units:
        assert policy[u.start : u.end] == u.text
    direct = clf.predict([u.text for u in units])
    assert [u.labels for u in units] == [p.labels for p in direct]
    assert [u.scores for u in units] == [p.scores for p in direct]
    assert units[0].kind == "heading"


BANNED = ("datasets", "clausetag.training", "transformers.trainer", "ray")


def test_import_pulls_in_no_training_code() -> None:
    code = (
        "import json, sys\n"
        "import clausetag.inference\n"
        f"print(json.dumps([m for m in {BANNED!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_torch_backend_pulls_in_no_training_code(tiny_model: Path) -> None:
    code = (
        "import json, sys\n"
        "from clausetag.inference import ClauseClassifier\n"
        f"ClauseClassifier.from_pretrained({str(tiny_model)!r}).tag_document('We keep data. For 5 years.')\n"
        f"print(json.dumps([m for m in {BANNED!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.splitlines()[-1]) == []


# --------------------------------------------------------------------------- predict CLI


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def predict(tiny_model: Path, *args: str) -> int:
    return cli(["predict", "--model", str(tiny_model), "--quiet", *args])


def test_predict_txt(tiny_model: Path, clf: ClauseClassifier, tmp_path: Path) -> None:
    policy = tmp_path / "shop.txt"
    policy.write_text(EN_POLICY, encoding="utf-8")
    out = tmp_path / "out" / "tags.jsonl"
    assert predict(tiny_model, str(policy), "--output", str(out), "--lang", "en") == 0
    records = read_jsonl(out)
    units = clf.tag_document(EN_POLICY, lang="en")
    assert [r["unit"] for r in records] == list(range(len(units)))
    assert {r["doc"] for r in records} == {"shop"}
    for r, u in zip(records, units, strict=True):
        assert (r["text"], r["start"], r["end"], r["kind"]) == (u.text, u.start, u.end, u.kind)
        assert r["labels"] == u.labels and r["scores"] == u.scores
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")], "temporary file left"


def test_predict_markdown_is_light_stripped(tiny_model: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.md"
    policy.write_text("# Privacy **Policy**\n\nWe keep [data](https://x.lv) for *5 years*.\n", "utf-8")
    out = tmp_path / "p.jsonl"
    assert predict(tiny_model, str(policy), "-o", str(out)) == 0
    assert [r["text"] for r in read_jsonl(out)] == ["Privacy Policy", "We keep data for 5 years."]


def test_predict_html_strips_markup(tiny_model: Path, tmp_path: Path) -> None:
    policy = tmp_path / "policy.html"
    policy.write_text(HTML_POLICY, encoding="utf-8")
    out = tmp_path / "html.jsonl"
    assert predict(tiny_model, str(policy), "-o", str(out)) == 0
    texts = [r["text"] for r in read_jsonl(out)]
    assert texts == [
        "Privacy",
        "Privacy & cookies",
        "We keep data for 5 years.",
        "You can object.",
        "Name;",
        "E-mail.",
    ]
    assert not any("sell" in t or "color" in t for t in texts)


def test_html_stdlib_fallback_gives_the_same_text() -> None:
    from clausetag.inference.markup import _html_selectolax, _html_stdlib

    assert _html_stdlib(HTML_POLICY) == _html_selectolax(HTML_POLICY)
    nested = "<ol><li><p>First item.</p></li><li></li></ol><pre>a\nb</pre><div>" * 3000 + "deep"
    assert _html_stdlib(nested) == _html_selectolax(nested)  # no recursion limit either


def test_predict_jsonl_keeps_ids_and_docs(tiny_model: Path, tmp_path: Path) -> None:
    rows = [
        {"id": "a-1", "doc": "a", "text": "We keep data for 5 years."},
        {"id": "a-2", "doc": "a", "text": "Jums ir tiesības iesniegt sūdzību."},
        {"text": "No id or doc here."},
        {"id": 7, "doc": "b", "text": "Another document."},
    ]
    data = tmp_path / "units.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert predict(tiny_model, str(data), "-o", str(out)) == 0
    records = read_jsonl(out)
    assert [(r["doc"], r["unit"], r.get("id"), r["text"]) for r in records] == [
        ("a", 0, "a-1", rows[0]["text"]),
        ("a", 1, "a-2", rows[1]["text"]),
        ("units", 0, None, rows[2]["text"]),
        ("b", 0, "7", rows[3]["text"]),
    ]
    assert all("start" not in r for r in records)  # units are taken as given, not segmented


def test_predict_stdin_to_stdout(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(LV_POLICY.encode("utf-8")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert predict(tiny_model, "-", "--lang", "lv") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[0]["doc"] == "stdin" and records[0]["text"] == "Privātuma politika"
    assert any(r["text"].startswith("SIA Piemērs, reg. Nr. 40003123456") for r in records)


def test_predict_stdin_html(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(HTML_POLICY.encode("utf-8")), encoding="utf-8")
    monkeypatch.setattr(sys, "stdin", stdin)
    assert predict(tiny_model, "-", "--stdin-format", "html") == 0
    assert "We keep data for 5 years." in capsys.readouterr().out


def test_predict_directory_sorted_with_unique_doc_names(tiny_model: Path, tmp_path: Path) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "b.txt").write_text(EN_POLICY, encoding="utf-8")
    (folder / "a.html").write_text(HTML_POLICY, encoding="utf-8")
    (folder / "b.md").write_text("# B\nSecond b.", encoding="utf-8")
    (folder / ".hidden.txt").write_text("skipped", encoding="utf-8")
    (folder / "notes.pdf").write_bytes(b"%PDF-1.4 skipped")
    out = tmp_path / "all.csv"
    assert predict(tiny_model, str(folder), "-o", str(out)) == 0  # csv from the suffix
    with out.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    docs = list(dict.fromkeys(r["doc"] for r in rows))
    assert docs == ["a", "b", "b.txt"]  # sorted: b.md is read first and keeps "b"
    assert rows[0]["labels"] == "" or set(rows[0]["labels"].split(";")) <= {
        k.removeprefix("score_") for k in rows[0] if k.startswith("score_")
    }
    assert all(0.0 <= float(rows[0][k]) <= 1.0 for k in rows[0] if k.startswith("score_"))


def test_predict_csv_matches_jsonl(tiny_model: Path, tmp_path: Path) -> None:
    policy = tmp_path / "p.txt"
    policy.write_text(LV_POLICY, encoding="utf-8")
    assert predict(tiny_model, str(policy), "-o", str(tmp_path / "p.jsonl")) == 0
    assert predict(tiny_model, str(policy), "-o", str(tmp_path / "p.out"), "--format", "csv") == 0
    records = read_jsonl(tmp_path / "p.jsonl")
    with (tmp_path / "p.out").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(records)
    for row, rec in zip(rows, records, strict=True):
        assert row["text"] == rec["text"] and int(row["unit"]) == rec["unit"]
        assert row["labels"].split(";") == (rec["labels"] or [""])
        assert {k: float(row[f"score_{k}"]) for k in rec["scores"]} == rec["scores"]


def _units_file(path: Path, n: int) -> Path:
    rows = [
        {"id": f"u{i}", "doc": f"d{i // 4}", "text": f"We keep record {i} for {i} years."} for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_resume_skips_written_units(tiny_model: Path, tmp_path: Path, fmt: str) -> None:
    data = _units_file(tmp_path / "units.jsonl", 30)
    full, out = tmp_path / f"full.{fmt}", tmp_path / f"part.{fmt}"
    assert predict(tiny_model, str(data), "-o", str(full), "--resume") == 0  # resumable from the start
    lines = full.read_text(encoding="utf-8").splitlines(keepends=True)
    header = 1 if fmt == "csv" else 0
    out.write_text("".join(lines[: header + 12]), encoding="utf-8")  # an interrupted run's output
    shutil.copyfile(fingerprint_path(full), fingerprint_path(out))  # and its fingerprint
    assert predict(tiny_model, str(data), "-o", str(out), "--resume", "--checkpoint-every", "1") == 0
    assert out.read_text(encoding="utf-8") == full.read_text(encoding="utf-8")
    before = out.stat().st_mtime_ns
    assert predict(tiny_model, str(data), "-o", str(out), "--resume") == 0  # nothing left to do
    assert out.stat().st_mtime_ns == before


def test_resume_from_scratch_and_refusals(tiny_model: Path, tmp_path: Path, capsys) -> None:
    data = _units_file(tmp_path / "units.jsonl", 6)
    out = tmp_path / "new.jsonl"
    assert predict(tiny_model, str(data), "-o", str(out), "--resume") == 0
    assert [r["id"] for r in read_jsonl(out)] == [f"u{i}" for i in range(6)]
    assert predict(tiny_model, str(data), "--resume") == 2
    assert "--resume needs --output" in capsys.readouterr().err
    foreign = tmp_path / "foreign.jsonl"
    foreign.write_text('{"doc": "d0", "unit": 0, "scores": {"x": 1.0}}\n', encoding="utf-8")
    assert predict(tiny_model, str(data), "-o", str(foreign), "--resume") == 2
    assert "other labels" in capsys.readouterr().err
    foreign.write_text("not json\n", encoding="utf-8")
    assert predict(tiny_model, str(data), "-o", str(foreign), "--resume") == 2
    assert f"{foreign}:1: cannot resume" in capsys.readouterr().err
    assert foreign.read_text(encoding="utf-8") == "not json\n"  # untouched


def test_predict_refuses_to_overwrite_its_input(tiny_model: Path, tmp_path: Path, capsys) -> None:
    data = _units_file(tmp_path / "units.jsonl", 3)
    before = data.read_text(encoding="utf-8")
    assert predict(tiny_model, str(data), "-o", str(data)) == 2
    assert "overwrite an input" in capsys.readouterr().err
    assert data.read_text(encoding="utf-8") == before


# --------------------------------------------------------------------------- report


def report(tiny_model: Path, *args: str) -> int:
    return cli(["report", "--model", str(tiny_model), "--quiet", *args])


@pytest.mark.parametrize(("policy", "lang"), [(EN_POLICY, "en"), (LV_POLICY, "lv")])
def test_report_json(tiny_model: Path, tmp_path: Path, capsys, policy: str, lang: str) -> None:
    from clausetag.inference.report import ART13_ITEMS

    path = tmp_path / "policy.txt"
    path.write_text(policy, encoding="utf-8")
    assert report(tiny_model, str(path), "--format", "json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["lang"] == lang  # guessed from the text
    assert [i["key"] for i in data["items"]] == [i.key for i in ART13_ITEMS]
    for item in data["items"]:
        assert item["status"] in {"present", "missing"}
        assert 1 <= len(item["evidence"]) <= 3
        scores = [e["score"] for e in item["evidence"]]
        assert item["status"] == ("present" if item["evidence"][0]["above_threshold"] else "missing")
        hits = [e for e in item["evidence"] if e["above_threshold"]]
        assert scores[: len(hits)] == sorted(scores[: len(hits)], reverse=True)
    assert data["summary"]["total"] == len(ART13_ITEMS)
    consent = next(i for i in data["items"] if i["key"] == "consent_withdrawal")
    assert consent["labels"] == ["user_choice"]


def test_report_md_and_html_files(tiny_model: Path, tmp_path: Path) -> None:
    path = tmp_path / "p.txt"
    path.write_text(EN_POLICY + "We never use <script>alert('x')</script> & co.\n", encoding="utf-8")
    assert report(tiny_model, str(path), "-o", str(tmp_path / "r.md")) == 0
    md = (tmp_path / "r.md").read_text(encoding="utf-8")
    assert md.startswith("# GDPR Art. 13 coverage: p")
    assert "| Right to withdraw consent at any time | 13(2)(c) |" in md
    assert report(tiny_model, str(path), "-o", str(tmp_path / "r.html")) == 0
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert "<script>" not in page
    assert "&lt;script&gt;" in page or "alert" not in page


def test_report_jsonl_of_one_document(tiny_model: Path, tmp_path: Path, capsys) -> None:
    data = _units_file(tmp_path / "two.jsonl", 6)  # docs d0 and d1
    assert report(tiny_model, str(data), "--format", "json") == 2
    assert "holds 2 documents; report covers one policy" in capsys.readouterr().err
    single = tmp_path / "single.jsonl"
    single.write_text(
        "".join(json.dumps({"doc": "x", "text": t}) + "\n" for t in ["We keep data.", "Ask us."]),
        encoding="utf-8",
    )
    assert report(tiny_model, str(single), "--format", "json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["doc"] == "x" and out["units"] == 2


def test_report_degrades_for_missing_labels() -> None:
    from clausetag.inference.classifier import TaggedUnit
    from clausetag.inference.report import NOT_COVERED, coverage, render_html, render_markdown

    units = [
        TaggedUnit("We keep data 5 years.", ["retention"], {"retention": 0.9, "purpose": 0.2}, index=0),
        TaggedUnit("We use it to ship orders.", [], {"retention": 0.1, "purpose": 0.4}, index=1),
    ]
    rep = coverage(units, ["retention", "purpose"], doc="d", lang="en")
    status = {i.key: i.status for i in rep.items}
    assert status["retention"] == "present" and status["purposes"] == "missing"
    assert status["complaint"] == NOT_COVERED and status["consent_withdrawal"] == NOT_COVERED
    assert rep.counts() == {"present": 1, "missing": 1, "not_covered": 9}
    assert "not covered by this model's labels" in render_markdown(rep)
    assert "not covered by this model&#x27;s labels" in render_html(rep)
    lv = coverage(units, ["retention", "purpose"], doc="d", lang="lv")
    assert "šī modeļa birkas to neaptver" in render_markdown(lv)


def test_other_is_exclusive_in_decisions(tiny_model: Path) -> None:
    from clausetag.inference import ClauseClassifier

    clf = ClauseClassifier.from_pretrained(tiny_model)
    proba = np.full((2, len(clf.labels)), 0.0, dtype=np.float32)
    j_other, j_cookies = clf.labels.index("other"), clf.labels.index("cookies")
    proba[0, [j_other, j_cookies]] = 1.0  # both pass: other must go
    proba[1, j_other] = 1.0  # other alone stays
    chosen = clf.decide(proba)
    assert chosen[0, j_cookies] and not chosen[0, j_other]
    assert chosen[1, j_other] and chosen[1].sum() == 1
