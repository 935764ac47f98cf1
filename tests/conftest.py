"""Shared fixtures: a tiny random encoder and a tiny trained clausetag model.

Built once per session from the bundled corpus, offline, in seconds, so tests
exercise the real Trainer, save, load and ONNX paths without the 490 MB encoder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"


def corpus_units() -> list[dict]:
    units = []
    for path in sorted((REPO / "data" / "corpus").rglob("*.jsonl")):
        units += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return units


def tiny_train_argv(encoder: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """`clausetag train` arguments for a quick tiny-model run on the small corpus (dev = doc 004)."""
    return [
        "--model_name_or_path", str(encoder), "--train_file", str(data), "--dev_docs", "004",
        "--output_dir", str(out), "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from clausetag.models.tiny import build_tiny_encoder

    return build_tiny_encoder(tmp_path_factory.mktemp("tiny-encoder"), [u["text"] for u in corpus_units()])


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """About 630 real units from three documents (both languages) as one JSONL."""
    keep = {"000", "001", "004"}
    units = [u for u in corpus_units() if u["doc"] in keep]
    path = tmp_path_factory.mktemp("corpus") / "small.jsonl"
    path.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in units), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_model(tiny_encoder: Path, small_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained model directory (the inference contract), from the tiny encoder."""
    return train_tiny_model(tiny_encoder, small_corpus, tmp_path_factory.mktemp("tiny-model") / "model")


def train_tiny_model(encoder: Path, data: Path, out: Path, *extra: str) -> Path:
    """The tiny model's two quick epochs into ``out`` (``extra``: more `clausetag train` flags)."""
    from clausetag.training.train import main

    argv = tiny_train_argv(
        encoder, data, out, "--num_train_epochs", "2", "--learning_rate", "1e-3", "--max_length", "64", *extra
    )
    assert main(argv) == 0
    return out
