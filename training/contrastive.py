"""A SetFit-style contrastive stage before the head: sentence pairs whose cosine learns label overlap.

SetFit (Tunstall et al., 2022) first fine-tunes the sentence encoder on pairs —
two sentences of the same class should embed close, two of different classes
apart — and only then fits a head. For multi-label units the pair's target is
the Jaccard overlap of their label sets: 1 for the same set, 0 for disjoint
sets. The loss is SetFit's ``CosineSimilarityLoss`` (squared error between the
cosine of the two pooled vectors and the target), on the vectors the head's
dense layer reads (mean pooling or ``[CLS]``, as the model is configured). The
linear probe is then fitted on the encoder this stage leaves.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from clausetag.data.corpus import CorpusUnit

logger = logging.getLogger(__name__)


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def sample_pairs(y: np.ndarray, n_pairs: int, seed: int) -> list[tuple[int, int, float]]:
    """``n_pairs`` (i, j, target): even ones share i's exact label set where another unit has it,
    odd ones draw j at random (mostly disjoint sets with many labels)."""
    rng = np.random.default_rng(seed)
    by_set: dict[bytes, list[int]] = defaultdict(list)
    for i, row in enumerate(y):
        by_set[row.astype(bool).tobytes()].append(i)
    pairs = []
    for n, i in enumerate(rng.integers(0, len(y), n_pairs)):
        i = int(i)
        same = by_set[y[i].astype(bool).tobytes()]
        if n % 2 == 0 and len(same) > 1:
            j = i
            while j == i:
                j = same[int(rng.integers(len(same)))]
        else:
            j = int(rng.integers(len(y)))
        pairs.append((i, j, jaccard(y[i], y[j])))
    return pairs


def contrastive_stage(
    model: Any,
    tokenizer: Any,
    units: Sequence[CorpusUnit],
    y: np.ndarray,
    n_pairs: int,
    max_length: int,
    learning_rate: float,
    seed: int,
    batch_size: int = 16,
) -> float:
    """Train the encoder on ``n_pairs`` pairs (one pass, AdamW); returns the last 50 steps' mean loss."""
    from tqdm.auto import tqdm

    from clausetag.training.probe import sentence_features
    from clausetag.training.trainer import encode_units

    if n_pairs <= 0:
        return float("nan")
    started = time.perf_counter()
    pairs = sample_pairs(y, n_pairs, seed)
    body = [p for p in model.base_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(body, lr=learning_rate, weight_decay=0.01)
    was_training = model.training
    model.train()
    losses: list[float] = []

    def encode(idx: list[int]) -> torch.Tensor:
        enc = encode_units(tokenizer, units, idx, max_length, model.config).to(model.device)
        return sentence_features(model, enc)

    for k in tqdm(range(0, len(pairs), batch_size), desc="contrastive pairs", leave=False):
        chunk = pairs[k : k + batch_size]
        a = encode([i for i, _, _ in chunk])
        b = encode([j for _, j, _ in chunk])
        target = torch.tensor([t for _, _, t in chunk], dtype=a.dtype, device=a.device)
        loss = torch.nn.functional.mse_loss(torch.nn.functional.cosine_similarity(a, b), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    model.train(was_training)
    tail = float(np.mean(losses[-50:]))
    logger.info(
        "contrastive stage: %d pairs in %.0f s, loss %.4f → %.4f",
        len(pairs),
        time.perf_counter() - started,
        float(np.mean(losses[:50])),
        tail,
    )
    return tail
