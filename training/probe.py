"""Linear probe, then fine-tune: the head starts as a logistic regression on frozen features."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from clausetag.data.corpus import CorpusUnit
from clausetag.training.trainer import batched_forward

logger = logging.getLogger(__name__)

#: The probe's standardised features go through tanh at this scale: nearly linear, outliers tamed.
PROBE_SCALE = 0.5


@dataclass(frozen=True)
class ProbeTransform:
    """Standardise each feature by the training units' mean and spread, then tanh at PROBE_SCALE.

    The head's dense layer computes the same map (``init_head_from_probe`` sets its
    weight to ``diag(PROBE_SCALE / sd)`` and its bias to ``-PROBE_SCALE * mu / sd``,
    the pooler's tanh follows); the recipe study applies it to frozen vectors.
    """

    mu: np.ndarray
    sd: np.ndarray

    @classmethod
    def fit(cls, x: np.ndarray) -> ProbeTransform:
        return cls(x.mean(0), x.std(0) + 1e-6)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(PROBE_SCALE * (x - self.mu) / self.sd)


def _tanh_head(model: Any) -> tuple[torch.nn.Linear, torch.nn.Linear] | None:
    """The (dense, output) layers around the head's tanh, for BERT- and RoBERTa-style heads."""
    clf = getattr(model, "classifier", None)
    pooler = getattr(model.base_model, "pooler", None)
    if (
        isinstance(clf, torch.nn.Linear)
        and isinstance(getattr(pooler, "dense", None), torch.nn.Linear)
        and isinstance(getattr(pooler, "activation", None), torch.nn.Tanh)
    ):
        return pooler.dense, clf  # type: ignore[union-attr]
    if type(clf).__name__.endswith("RobertaClassificationHead") and isinstance(
        getattr(clf, "out_proj", None), torch.nn.Linear
    ):
        return clf.dense, clf.out_proj  # type: ignore[union-attr]
    return None


def sentence_features(model: Any, enc: Any) -> torch.Tensor:
    """What the head's dense layer reads: the masked mean (mean pooling) or the [CLS] vector."""
    hidden = model.base_model(**enc).last_hidden_state
    if getattr(model.config, "pooling", "cls") == "mean":
        from clausetag.models.modeling import mean_pool

        return mean_pool(hidden, enc["attention_mask"])
    return hidden[:, 0]


def _frozen_features(model: Any, tokenizer: Any, units: Sequence[CorpusUnit], max_length: int) -> np.ndarray:
    """What the head's dense layer reads, for every unit, with the model in eval mode."""
    was_training = model.training
    model.eval()
    x = batched_forward(
        units,
        tokenizer,
        max_length,
        lambda enc: sentence_features(model, enc.to(model.device)),
        model.config.hidden_size,
        model.config,
    )
    model.train(was_training)
    return x


def fit_probe(
    feats: np.ndarray, y_train: np.ndarray, pos_weight: torch.Tensor, c: float
) -> tuple[np.ndarray, np.ndarray]:
    """Per label, a class-weighted logistic regression: (weight, bias) of the output layer."""
    from sklearn.linear_model import LogisticRegression

    weight = np.zeros((y_train.shape[1], feats.shape[1]), dtype=np.float32)
    bias = np.zeros(y_train.shape[1], dtype=np.float32)
    for j in range(y_train.shape[1]):
        y = y_train[:, j].astype(int)
        if y.min() == y.max():  # nothing to fit: a constant, confident answer
            bias[j] = 4.0 if y.min() else -4.0
            continue
        fit = LogisticRegression(C=c, class_weight={0: 1.0, 1: float(pos_weight[j])}, max_iter=500)
        fit.fit(feats, y)
        weight[j], bias[j] = fit.coef_[0], fit.intercept_[0]
    return weight, bias


def init_head_from_probe(
    model: Any,
    tokenizer: Any,
    train: Sequence[CorpusUnit],
    y_train: np.ndarray,
    pos_weight: torch.Tensor,
    probe_c: float,
    max_length: int,
) -> None:
    """Linear probe, then fine-tune (Kumar et al., 2022): start from a head that already works.

    A random pooler and classifier pass e5's pooled vector (for [CLS], cosine ≈0.9
    between any two sentences) through two small random matrices, so the encoder gets
    almost no gradient and a few CPU epochs stay at the label priors. Here the dense
    layer standardises the frozen pooled features (the masked mean by default, [CLS]
    with ``--pooling cls``) and the output layer is a class-weighted
    logistic regression on them: fine-tuning then starts from a working classifier.
    """
    layers = _tanh_head(model)
    if layers is None:
        logger.warning(
            "--head_init probe does not know the head of %s; keeping its random initialisation",
            type(model).__name__,
        )
        return
    dense, out = layers
    started = time.perf_counter()
    x = _frozen_features(model, tokenizer, train, max_length)
    transform = ProbeTransform.fit(x)
    weight, bias = fit_probe(transform(x), y_train, pos_weight, probe_c)
    with torch.no_grad():
        dense.weight.copy_(torch.diag(torch.from_numpy(PROBE_SCALE / transform.sd)))
        dense.bias.copy_(torch.from_numpy(-PROBE_SCALE * transform.mu / transform.sd))
        out.weight.copy_(torch.from_numpy(weight))
        out.bias.copy_(torch.from_numpy(bias))
    logger.info("linear probe head from %d units in %.0f s", len(train), time.perf_counter() - started)
