"""Helpers the tests share (imported as ``from helpers import …``; fixtures stay in conftest.py)."""

from __future__ import annotations

import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SEEDS = SHARED / "seeds"


def corpus_units() -> list[dict]:
    """The bundled corpus as the loader reads it: folders named ``_…`` or ``.…`` are scratch space."""
    units = []
    root = REPO / "data" / "corpus"
    for path in sorted(root.rglob("*.jsonl")):
        if any(part.startswith(("_", ".")) for part in path.relative_to(root).parts[:-1]):
            continue
        units += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return units


def tiny_train_argv(encoder: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """`clausetag train` arguments for a quick tiny-model run on the small corpus (dev = doc 004)."""
    return [
        "--model_name_or_path", str(encoder), "--train_file", str(data), "--dev_docs", "004",
        "--output_dir", str(out), "--disable_tqdm", "true", *extra,
    ]  # fmt: skip


def train_tiny_model(encoder: Path, data: Path, out: Path, *extra: str) -> Path:
    """The tiny model's two quick epochs into ``out`` (``extra``: more `clausetag train` flags).

    It reads no context unless ``extra`` says so: the tests built on it check the paths every
    model takes (and that a model without context keeps working); tests/test_context.py trains the
    context models, the default among them.
    """
    from clausetag.training.train import main

    argv = tiny_train_argv(
        encoder,
        data,
        out,
        *("--num_train_epochs", "2", "--learning_rate", "1e-3", "--max_length", "64", "--context", "none"),
        *extra,
    )
    assert main(argv) == 0
    return out
