"""Hugging Face-native model directories: the Auto classes after `import clausetag`, the
`clausetag` pipeline task (equal to `ClauseClassifier`), the Hub card, Optimum, push-to-hub."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import huggingface_hub.constants
import numpy as np
import pytest
from helpers import REPO, SEEDS, train_tiny_model
from hub_standin import HubStandIn

from clausetag.cli import main as cli
from clausetag.errors import ClausetagError
from clausetag.inference import ClauseClassifier, ModelDir
from clausetag.inference import card as cards
from clausetag.inference.hub import upload_plan

RECIPES = REPO / "benchmarks" / "results" / "recipes-finetune-all-folds.json"
DRAFT = REPO / "docs" / "huggingface.md"
#: Scores are rounded to 4 decimals (``ClauseClassifier._scores``); batches padded to other widths
#: differ in the last float bits, so a score may round the other way.
SCORE_TOLERANCE = 1.01e-4


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in these tests may reach past this machine: the Hub here is the stand-in on 127.0.0.1,
    and huggingface_hub's own side requests (its agent registry) go to it too."""
    import socket

    import huggingface_hub.constants

    connect = socket.socket.connect

    def guarded(sock: socket.socket, address: object) -> None:
        host = address[0] if isinstance(address, tuple) else "unix"
        if host not in ("127.0.0.1", "::1", "localhost", "unix"):
            raise AssertionError(f"a test tried to reach {address!r}")
        connect(sock, address)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded)
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "http://127.0.0.1:9")


def _run(code: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def pipe(tiny_model: Path) -> Any:
    from transformers import pipeline

    import clausetag  # noqa: F401  (registers the task)

    return pipeline("clausetag", model=str(tiny_model))


@pytest.fixture(scope="module")
def clf(tiny_model: Path) -> ClauseClassifier:
    return ClauseClassifier.from_pretrained(tiny_model)


@pytest.fixture(scope="module")
def exported(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the tiny model with onnx/model.onnx (the shared fixture stays without onnx/)."""
    model = tmp_path_factory.mktemp("hf-onnx") / "model"
    shutil.copytree(tiny_model, model)
    assert cli(["export-onnx", "--model", str(model)]) == 0
    return model


def _same(records: list[dict], reference: list[dict]) -> None:
    assert len(records) == len(reference)
    for got, want in zip(records, reference, strict=True):
        assert {k: v for k, v in got.items() if k != "scores"} == {
            k: v for k, v in want.items() if k != "scores"
        }
        assert got["scores"].keys() == want["scores"].keys()
        assert max(abs(got["scores"][k] - want["scores"][k]) for k in got["scores"]) <= SCORE_TOLERANCE


# --------------------------------------------------------------------------- loading: no ritual


def test_import_clausetag_imports_neither_transformers_nor_torch() -> None:
    out = _run(
        "import sys, clausetag, clausetag.inference, clausetag.transformers_hook as h\n"
        "print([m for m in ('transformers', 'torch') if m in sys.modules], len(h.pending()))\n"
    )
    assert out.split() == ["[]", "3"]


@pytest.mark.parametrize("first", ["clausetag", "transformers"])
def test_auto_classes_and_pipelines_load_it_after_import_clausetag(tiny_model: Path, first: str) -> None:
    """No `import clausetag.models.modeling`: `import clausetag` (before or after transformers) is enough."""
    hf = "from transformers import AutoConfig, AutoModelForSequenceClassification, pipeline\n"
    imports = "import clausetag\n" + hf if first == "clausetag" else hf + "import clausetag\n"
    code = imports + (
        "import sys, clausetag.transformers_hook as h\n"
        f"d = {str(tiny_model)!r}\n"
        "config = AutoConfig.from_pretrained(d)\n"
        "model = AutoModelForSequenceClassification.from_pretrained(d)\n"
        "text = 'We keep invoices for five years.'\n"
        "raw = pipeline('text-classification', model=d, top_k=None)([text])[0]\n"
        "ours = pipeline('clausetag', model=d)(text)\n"
        "print(type(config).__name__, type(model).__name__, len(raw), sorted(ours), h.pending(),\n"
        "      any(type(f).__name__ == '_Finder' for f in sys.meta_path))\n"
    )
    out = _run(code).splitlines()[-1]
    assert out == (
        "BertMeanPoolConfig BertMeanPoolForSequenceClassification 17 ['labels', 'scores', 'text'] [] False"
    )


def test_auto_tokenizer_first_then_the_pipeline(tiny_model: Path) -> None:
    """transformers' modules import each other in cycles; registration waits for the outermost import."""
    code = (
        "import clausetag\nfrom transformers import BertConfig, AutoTokenizer\n"
        f"AutoTokenizer.from_pretrained({str(tiny_model)!r})\n"
        "from transformers import pipeline\n"
        f"print(pipeline('clausetag', model={str(tiny_model)!r})('Privacy policy')['text'])\n"
    )
    assert _run(code).splitlines()[-1] == "Privacy policy"


# --------------------------------------------------------------------------- pipeline("clausetag")


@pytest.mark.parametrize("seed", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_pipeline_equals_classifier_on_seed_policies(pipe, clf: ClauseClassifier, seed: Path) -> None:
    text = seed.read_text(encoding="utf-8")
    reference = [dataclasses.asdict(u) for u in clf.tag_document(text)]
    assert reference, seed
    _same(pipe(text, document=True, batch_size=16), reference)
    units = [u["text"] for u in reference][:120]
    sentences = [dataclasses.asdict(p) for p in clf.predict(units)]
    _same(pipe(units, batch_size=16), sentences)
    _same(pipe(units[:24]), sentences[:24])  # batch_size 1


def test_pipeline_is_the_ensemble_with_the_tuned_thresholds(tiny_model: Path, pipe, clf) -> None:
    assert clf.ngram is not None  # the tiny model is an ensemble: the pipeline mixes its member in
    assert pipe.classifier.ngram is not None and pipe.classifier.ngram.weight == clf.ngram.weight
    assert np.array_equal(pipe.classifier.thresholds, clf.thresholds)
    texts = ["We keep invoices for five years.", "Jūs varat atsaukt piekrišanu.", "Privacy policy"]
    for threshold in (None, 0.2):
        _same(
            pipe(texts, threshold=threshold),
            [dataclasses.asdict(p) for p in clf.predict(texts, threshold=threshold)],
        )


def test_pipeline_on_datasets_generators_and_empty_inputs(pipe, clf) -> None:
    from datasets import Dataset
    from transformers.pipelines.pt_utils import KeyDataset

    texts = ["We keep invoices for five years.", "Jūs varat atsaukt piekrišanu.", "Privacy policy"] * 3
    reference = [dataclasses.asdict(p) for p in clf.predict(texts)]
    dataset = Dataset.from_dict({"text": texts})
    _same(list(pipe(KeyDataset(dataset, "text"), batch_size=4)), reference)
    _same(list(pipe((t for t in texts), batch_size=2)), reference)
    assert pipe([]) == [] and pipe("", document=True) == []
    docs = pipe(
        ["Privacy policy\nWe keep invoices.", "Sīkdatnes\nMēs izmantojam sīkdatnes."],
        document=True,
        batch_size=3,
    )
    assert [[u["text"] for u in d] for d in docs] == [
        ["Privacy policy", "We keep invoices."],
        ["Sīkdatnes", "Mēs izmantojam sīkdatnes."],
    ]


def test_pipeline_reads_the_context_recipe(
    tiny_encoder: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    from transformers import pipeline

    model = train_tiny_model(
        tiny_encoder,
        small_corpus,
        tmp_path_factory.mktemp("hf-ctx") / "model",
        "--context",
        "heading+previous",
    )
    clf = ClauseClassifier.from_pretrained(model)
    assert clf.context.active
    pipe = pipeline("clausetag", model=str(model))
    text = (SEEDS / sorted(p.name for p in SEEDS.glob("*.txt"))[1]).read_text(encoding="utf-8")
    _same(pipe(text, document=True, batch_size=8), [dataclasses.asdict(u) for u in clf.tag_document(text)])
    items = [
        {"text": "We keep it for 5 years.", "context": "5. How long do we keep data?"},
        {"text": "Privacy policy"},
    ]
    reference = [
        dataclasses.asdict(clf.predict([items[0]["text"]], contexts=[items[0]["context"]])[0]),
        dataclasses.asdict(clf.predict([items[1]["text"]])[0]),
    ]
    _same(pipe(items, batch_size=2), reference)


def test_pipeline_refuses_what_clausetag_refuses(pipe) -> None:
    with pytest.raises(ClausetagError, match="empty"):
        pipe("   ")
    with pytest.raises(ClausetagError, match="unknown argument"):
        pipe("We keep data.", top_k=3)
    with pytest.raises(ClausetagError, match="threshold"):
        pipe("We keep data.", threshold=2)
    with pytest.raises(ClausetagError, match="lang"):
        pipe("We keep data.", document=True, lang="xx")
    with pytest.raises(ClausetagError, match="'text' key"):
        pipe({"sentence": "We keep data."})


# --------------------------------------------------------------------------- the model card


def test_trained_card_parses_as_a_hub_card(tiny_model: Path) -> None:
    text = (tiny_model / "README.md").read_text(encoding="utf-8")
    meta = cards.check_card(text)
    assert meta["license"] == "mit" and meta["language"] == ["en", "lv"]
    assert meta["pipeline_tag"] == "text-classification"
    assert "model-index" not in meta  # no LODO was measured for it
    for heading in ("## Labels", "## Training data", "## Intended use and limits", "Not legal advice"):
        assert heading in text
    assert "**What `other` means**" in text
    assert "A corpus of the trainer's own" in text  # the small test corpus is not the bundled one


def test_card_names_the_bundled_corpus_sources_and_licences(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    args = json.loads((folder / "training_args.json").read_text(encoding="utf-8"))
    args["data"]["train_file"] = str(cards.bundled_corpus_dir())
    (folder / "training_args.json").write_text(json.dumps(args), encoding="utf-8")
    text = cards.compose(folder)
    for source in ("seed", "authored", "translation"):
        assert f"(`source: {source}`)" in text
    assert "rights in these texts stay with the controllers" in text and "(MIT)" in text


def test_card_model_index_is_read_from_the_results_file(exported: Path, tmp_path: Path) -> None:
    from huggingface_hub import ModelCard

    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    lodo = cards.read_lodo(RECIPES)
    baseline = cards.read_lodo(RECIPES, cards.BASELINE_ROW, cards.BASELINE_POLICY)
    text = cards.compose(folder, lodo, baseline, repo_id="me/tiny")
    (folder / "README.md").write_text(text, encoding="utf-8")
    card = ModelCard.load(folder / "README.md", ignore_metadata_errors=False)
    results = json.loads(RECIPES.read_text(encoding="utf-8"))["rows"]
    want = {}
    for row, policy, who in (
        ("ensemble-ft", "global", "this recipe"),
        ("tfidf", "shrunk", "TF-IDF baseline"),
    ):
        r = results[row]["policies"][policy]
        want[(who, "en+lv")] = round(r["macro_f1"], 4)
        want.update({(who, lang): round(v["macro_f1"], 4) for lang, v in r["per_language"].items()})
    got = {
        (e.metric_name.split(", ")[1].split(" (")[0], e.dataset_config): e.metric_value
        for e in card.data.eval_results
    }
    assert got == want
    assert card.data.model_name == folder.name
    # renewing again without figures keeps the ones read before, and the block is replaced, not repeated
    again = cards.compose(folder)
    assert (
        again.count(cards.BEGIN) == 1
        and cards.check_card(again)["model-index"] == card.data.to_dict()["model-index"]
    )
    assert 'snapshot_download("me/tiny")' in text


def test_card_reads_an_experiment_lodo_report_and_refuses_malformed_ones(tmp_path: Path) -> None:
    report = {
        "model": "transformer",
        "macro_f1": 0.61,
        "per_language": {"en": {"macro_f1": 0.6}, "lv": {"macro_f1": 0.62}},
        "folds": [{"held_out": "000"}, {"held_out": "001"}],
    }
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps(report), encoding="utf-8")
    figures = cards.read_lodo(path)
    assert (figures.macro_f1, figures.per_language, figures.folds) == (
        0.61,
        {"en": 0.6, "lv": 0.62},
        ("000", "001"),
    )
    index = cards.model_index("m", figures)
    assert [r["dataset"]["config"] for r in index[0]["results"]] == ["en+lv", "en", "lv"]
    with pytest.raises(ClausetagError, match="drop the row"):
        cards.read_lodo(path, "tfidf")
    with pytest.raises(ClausetagError, match="no row 'nope'"):
        cards.read_lodo(RECIPES, "nope")
    path.write_text(json.dumps({"macro_f1": "high", "per_language": {}}), encoding="utf-8")
    with pytest.raises(ClausetagError, match="expected a number"):
        cards.read_lodo(path)


def test_card_defaults_name_the_real_rows_and_policies() -> None:
    from clausetag.training.experiments import ROWS
    from clausetag.training.thresholds import BASELINE_POLICY, DEFAULT_POLICY

    assert cards.DEFAULT_ROW in ROWS and cards.BASELINE_ROW in ROWS
    assert (cards.BASELINE_POLICY, cards.DEFAULT_POLICY) == (BASELINE_POLICY, DEFAULT_POLICY)


# --------------------------------------------------------------------------- ONNX and Optimum


@pytest.mark.skipif(importlib.util.find_spec("optimum") is None, reason="optimum is not installed")
def test_optimum_loads_the_export_and_scores_as_the_onnx_backend(exported: Path) -> None:
    ort = pytest.importorskip("optimum.onnxruntime")
    import torch

    from clausetag.inference.backends import OnnxBackend
    from clausetag.inference.export import CHECK_SENTENCES

    model_dir = ModelDir.open(exported)
    batch = model_dir.batch_tokenizer()(list(CHECK_SENTENCES))
    reference = OnnxBackend(model_dir).logits(batch)
    for kwargs in ({}, {"subfolder": "onnx"}):
        model = ort.ORTModelForSequenceClassification.from_pretrained(exported, **kwargs)
        logits = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).logits
        assert np.abs(np.asarray(logits) - reference).max() <= 1e-5


# --------------------------------------------------------------------------- push-to-hub


def test_upload_plan_is_the_whole_directory_and_nothing_else(exported: Path, tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    (folder / ".export.tmp").mkdir()
    (folder / ".export.tmp" / "raw.onnx").write_bytes(b"x")
    (folder / "checkpoint-3").mkdir()
    (folder / "checkpoint-3" / "config.json").write_text("{}")
    (folder / "training_args.bin").write_bytes(b"pickle")
    names = [f.path_in_repo for f in upload_plan(folder)]
    assert names == sorted(
        ["README.md", "config.json", "metrics.json", "model.safetensors", "ngram/config.json",
         "ngram/weights.safetensors", "onnx/model.onnx", "thresholds.json", "tokenizer.json",
         "tokenizer_config.json", "training_args.json"]
    )  # fmt: skip


def test_push_to_hub_uploads_the_directory_to_a_local_hub_stand_in(
    exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "m"
    shutil.copytree(exported, folder)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # as CI runs (HF_HUB_OFFLINE=1)
    assert cli(["push-to-hub", str(folder), "me/clausetag-tiny", "--token", "t"]) == 2
    assert "HF_HUB_OFFLINE is set" in capsys.readouterr().err
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    with HubStandIn() as hub:
        args = [
            "push-to-hub",
            str(folder),
            "me/clausetag-tiny",
            "--endpoint",
            hub.url,
            "--lodo",
            str(RECIPES),
        ]
        assert cli([*args, "--dry-run", "--token", hub.token]) == 0
        assert "dry run" in capsys.readouterr().out and hub.calls == []
        assert cli([*args, "--token", "wrong"]) == 2
        assert "HTTP 401" in capsys.readouterr().err
        assert "model-index" not in (folder / "README.md").read_text(encoding="utf-8")  # not renewed
        assert cli([*args, "--token", hub.token, "--message", "first"]) == 0
        assert hub.unknown == []
        assert ("POST", "/api/validate-yaml") in hub.calls  # the Hub's own card check, answered by ModelCard
        uploaded = hub.repos["me/clausetag-tiny"]
        assert set(uploaded) == {f.path_in_repo for f in upload_plan(folder)}
        for name, content in uploaded.items():
            assert content == (folder / name).read_bytes(), name
        assert hub.commits["me/clausetag-tiny"][0]["summary"] == "first"
        assert "model-index" in cards.check_card(uploaded["README.md"].decode())


def test_push_to_hub_refuses_bad_arguments(exported: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli(["push-to-hub", str(exported), "no-namespace", "--dry-run"]) == 2
    assert "NAMESPACE/NAME" in capsys.readouterr().err
    assert cli(["push-to-hub", str(exported), "me/x", "--baseline", str(RECIPES), "--dry-run"]) == 2
    assert "--baseline goes with --lodo" in capsys.readouterr().err
    assert cli(["push-to-hub", str(exported.parent / "missing"), "me/x", "--dry-run"]) == 2


# --------------------------------------------------------------------------- the README draft


def _blocks(markdown: str) -> list[tuple[str, str]]:
    return re.findall(r"```(python|bash)\n(.*?)```", markdown, re.S)


def test_readme_draft_snippets_run_as_written(exported: Path, tmp_path: Path) -> None:
    """Every code block of the draft, in order, in a folder laid out as the repository (the tiny
    model as models/clausetag-me5-small), the Hub being the stand-in (HF_ENDPOINT)."""
    root = tmp_path / "repo"
    (root / "models").mkdir(parents=True)
    shutil.copytree(exported, root / "models" / "clausetag-me5-small")
    shutil.rmtree(root / "models" / "clausetag-me5-small" / "onnx")  # the draft exports it itself
    (root / "benchmarks" / "results").mkdir(parents=True)
    shutil.copy(RECIPES, root / "benchmarks" / "results" / RECIPES.name)
    blocks = _blocks(DRAFT.read_text(encoding="utf-8"))
    assert [kind for kind, _ in blocks].count("python") >= 6 and any("push-to-hub" in b for _, b in blocks)
    has_optimum = importlib.util.find_spec("optimum") is not None
    with HubStandIn() as hub:
        env = {
            **{k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"},  # CI sets it
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": hub.token,
            "HF_HOME": str(tmp_path / "hf-home"),
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for kind, code in blocks:
            if "optimum" in code and not has_optimum:
                continue
            if kind == "python":
                _run(code, cwd=root, env=env)
            else:
                for line in code.strip().splitlines():
                    done = subprocess.run(
                        line, shell=True, cwd=root, env=env, capture_output=True, text=True, timeout=300
                    )
                    assert done.returncode == 0, (line, done.stderr[-2000:])
        assert "your-name/clausetag-me5-small" in hub.repos and hub.unknown == []
