"""Logits to scores: the one sigmoid every path (torch, ONNX, n-gram member, studies) applies."""

from __future__ import annotations

from typing import Any

import numpy as np


def sigmoid(logits: Any, dtype: Any = None) -> np.ndarray:
    """``1 / (1 + e^-x)`` elementwise; ``dtype`` (e.g. ``np.float64`` for a parity check) casts first."""
    x = np.asarray(logits, dtype=dtype)
    return 1.0 / (1.0 + np.exp(-x))
