"""Shared fixtures: a tiny random encoder and a tiny trained clausetag model.

Built once per session from the bundled corpus, offline, in seconds, so tests
exercise the real Trainer, save, load and ONNX paths without the 490 MB encoder.
Plain helper functions live in ``tests/helpers.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import corpus_units, train_tiny_model


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
