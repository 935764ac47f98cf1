"""The annotation loop against a real Label Studio server, once per run (one module fixture).

``make labelstudio`` installs label-studio (with label-studio-sdk) into ``.venv-labelstudio/``;
``CLAUSETAG_LABEL_STUDIO`` may name another ``label-studio`` binary. The fixture starts the
server on 127.0.0.1 (``benchmarks/labelstudio.py``: SQLite, its data and home in a temporary
folder, telemetry off), and ``benchmarks/labelstudio_client.py``, run with that venv's Python,
drives it through the SDK: a project with our labeling config, our tasks with their predictions,
corrections from two annotators (one changes their mind), and the project's JSON export. The server is stopped
(its process group killed) as soon as the export is on disk; then ``clausetag data import``
reads the export and a tiny model is trained with it as ``--extra_train_file``.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import REPO, train_tiny_model

from clausetag.cli import main as cli
from clausetag.labels import DEFAULT_LABELS

spec = importlib.util.spec_from_file_location("labelstudio", REPO / "benchmarks" / "labelstudio.py")
assert spec is not None and spec.loader is not None
labelstudio = importlib.util.module_from_spec(spec)
spec.loader.exec_module(labelstudio)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "annotate"
POLICIES = [FIXTURES / "example-shop.txt", FIXTURES / "piemers.txt"]
GOLD: dict[str, list[str]] = json.loads((FIXTURES / "gold.json").read_text(encoding="utf-8"))
ANNOTATOR, REVIEWER = labelstudio.USERNAME, "reviewer@example.com"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not labelstudio.LABEL_STUDIO.is_file(),
        reason=f"Label Studio is not installed ({labelstudio.LABEL_STUDIO}): `make labelstudio` installs it",
    ),
]


def corrections(tasks: list[dict]) -> dict[str, list[tuple[str, list[str]]]]:
    """What the annotators submit: the gold labels, with a reviewer on two tasks (agreeing on one)
    and the annotator first getting one task wrong and then fixing it (the fix is the latest)."""
    out: dict[str, list[tuple[str, list[str]]]] = {}
    for i, t in enumerate(tasks):
        gold = GOLD[t["data"]["text"]]
        notes = [(ANNOTATOR, gold)]
        if i == 0:
            notes = [(ANNOTATOR, ["other"] if gold != ["other"] else ["purpose"]), (ANNOTATOR, gold)]
        if i in (1, 2):
            differ = (
                ["purpose"]
                if gold == ["other"]
                else [*gold, "purpose"]
                if "purpose" not in gold
                else ["other"]
            )
            notes.append((REVIEWER, gold if i == 1 else differ))
        out[t["data"]["id"]] = notes
    return out


@dataclass
class RoundTrip:
    tasks: list[dict]
    summary: dict
    export: list[dict]
    units_path: Path
    units: list[dict]
    said: str
    model: Path
    startup_seconds: float


@pytest.fixture(scope="module")
def round_trip(tiny_model: Path, tiny_encoder: Path, small_corpus: Path, tmp_path_factory) -> RoundTrip:
    work = tmp_path_factory.mktemp("labelstudio")
    out = work / "batch"
    argv = ["annotate", "export", "--model", str(tiny_model), "--format", "labelstudio", "-o", str(out)]
    assert cli([*argv, "--select", "uncertain", "-k", "10", *map(str, POLICIES)]) == 0
    tasks = json.loads((out / "tasks.json").read_text(encoding="utf-8"))
    (out / "corrections.json").write_text(json.dumps(corrections(tasks)), encoding="utf-8")

    with labelstudio.label_studio(work / "server") as server:
        summary = labelstudio.run_client(server, out)
    print(f"Label Studio answered /health after {server.startup_seconds:.0f} s", file=sys.stderr)

    units_path = work / "units.jsonl"
    said = io.StringIO()
    with contextlib.redirect_stdout(said):
        assert cli(["data", "import", "labelstudio", str(out / "export.json"), "-o", str(units_path)]) == 0
    units = [json.loads(line) for line in units_path.read_text(encoding="utf-8").splitlines()]
    model = train_tiny_model(
        tiny_encoder, small_corpus, work / "retrained", "--extra_train_file", str(units_path)
    )
    return RoundTrip(
        tasks=tasks,
        summary=summary,
        export=json.loads((out / "export.json").read_text(encoding="utf-8")),
        units_path=units_path,
        units=units,
        said=said.getvalue(),
        model=model,
        startup_seconds=server.startup_seconds,
    )


def test_the_server_holds_our_tasks_with_their_predictions(round_trip: RoundTrip) -> None:
    summary = round_trip.summary
    assert summary["tasks"] == len(round_trip.tasks) == 10
    assert set(summary["predictions"].values()) == {1}
    ours = {t["data"]["id"]: t["predictions"][0]["score"] for t in round_trip.tasks}
    assert {k: v[0] for k, v in summary["scores"].items()} == pytest.approx(ours)
    assert summary["submitted"] == 10 + 1 + 2  # a fix and two reviews
    exported = {t["data"]["id"]: t for t in round_trip.export}
    assert set(exported) == set(ours)
    assert all(t["data"]["section"] == exported[t["data"]["id"]]["data"]["section"] for t in round_trip.tasks)


def test_import_gives_the_corrections_and_the_latest_wins(round_trip: RoundTrip) -> None:
    units = {u["id"]: u for u in round_trip.units}
    assert len(units) == 10
    first, second, third = (t["data"] for t in round_trip.tasks[:3])
    assert units[first["id"]]["labels"] == GOLD[first["text"]]  # the annotator's fix, not the slip
    assert units[second["id"]]["labels"] == GOLD[second["text"]]
    reviewed = corrections(round_trip.tasks)[third["id"]][-1][1]  # the reviewer's, submitted last
    assert units[third["id"]]["labels"] == [x for x in DEFAULT_LABELS if x in reviewed] != GOLD[third["text"]]
    for u in round_trip.units:
        task = next(t["data"] for t in round_trip.tasks if t["data"]["id"] == u["id"])
        assert u["source"] == "annotated" and u["text"] == task["text"] and u["doc"] == task["doc"]
        assert u["lang"] == task["lang"] and u.get("kind") == task.get("kind")
    docs = [u["doc"] for u in round_trip.units]
    assert docs == sorted(docs, key=docs.index)  # document by document, in policy order
    assert cli(["data", "validate", str(round_trip.units_path)]) == 0


def test_agreement_between_the_annotators_is_reported(round_trip: RoundTrip) -> None:
    said = round_trip.said
    assert "wrote 10 units from 2 document(s)" in said
    assert "agreement on 2 units labelled by 2+ of 2 annotators: all agree on 50%" in said
    assert "1 unit(s) where annotators differ: the latest annotation is kept" in said


def test_the_retrained_model_lists_the_extra_file(round_trip: RoundTrip, small_corpus: Path) -> None:
    card = (round_trip.model / "README.md").read_text(encoding="utf-8")
    assert f"`{round_trip.units_path}` (" in card and "units from 2 documents)" in card
    args = json.loads((round_trip.model / "training_args.json").read_text())
    assert args["data"]["extra_train_file"] == [str(round_trip.units_path)]
    base = sum(1 for _ in small_corpus.open())
    assert args["counts"]["train"] + args["counts"]["dev"] == base + 10
    assert cli(["predict", "--model", str(round_trip.model), "-q", "-o", os.devnull, str(POLICIES[0])]) == 0
