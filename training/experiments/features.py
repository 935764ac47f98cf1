"""Frozen-encoder sentence vectors for the recipe study's probe rows, computed once and kept."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from clausetag.io import atomic_writer
from clausetag.models.e5 import E5_PREFIX


class FeatureCache:
    """Frozen-encoder sentence vectors, computed once per (text, pooling) and kept in memory/disk."""

    def __init__(self, encoder: str | Path, max_length: int = 128, cache_dir: Path | None = None) -> None:
        self.encoder = str(encoder)
        self.max_length = max_length
        self.cache_dir = cache_dir
        self._mem: dict[tuple[str, str], np.ndarray] = {}
        self._model: Any = None

    def _load(self) -> None:
        if self._model is None:
            from transformers import AutoModel, AutoTokenizer

            from clausetag.inference.safeload import pretrained

            self._tok = pretrained(AutoTokenizer, self.encoder)
            self._model = pretrained(AutoModel, self.encoder).eval()

    def _key(self, pooling: str) -> str:
        return hashlib.sha1(f"{self.encoder}|{self.max_length}|{pooling}".encode()).hexdigest()[:12]

    def vectors(self, texts: Sequence[str], pooling: str) -> np.ndarray:
        """``pooling``: ``cls`` (no prefix) or ``mean`` (E5 prefix, mean over real tokens)."""
        todo = sorted({t for t in texts if (t, pooling) not in self._mem})
        disk = self.cache_dir / f"{self._key(pooling)}.npz" if self.cache_dir else None
        if todo and disk is not None and disk.is_file():
            with np.load(disk, allow_pickle=False) as z:
                for t, v in zip(z["texts"].tolist(), z["vectors"], strict=True):
                    self._mem[t, pooling] = v
            todo = [t for t in todo if (t, pooling) not in self._mem]
        if todo:
            self._encode(todo, pooling)
            if disk is not None:
                done = [t for (t, p) in self._mem if p == pooling]
                disk.parent.mkdir(parents=True, exist_ok=True)
                with atomic_writer(disk, "wb") as fh:
                    np.savez(
                        fh, texts=np.array(done), vectors=np.stack([self._mem[t, pooling] for t in done])
                    )
        return np.stack([self._mem[t, pooling] for t in texts])

    def _encode(self, texts: list[str], pooling: str) -> None:
        import torch
        from tqdm.auto import tqdm

        from clausetag.models.modeling import mean_pool

        self._load()
        order = sorted(texts, key=len)
        for k in tqdm(range(0, len(order), 64), desc=f"encoding ({pooling})", leave=False):
            chunk = order[k : k + 64]
            inputs = [E5_PREFIX + t if pooling == "mean" else t for t in chunk]
            enc = self._tok(
                inputs, truncation=True, max_length=self.max_length, padding=True, return_tensors="pt"
            )
            with torch.inference_mode():  # never a global switch: training may follow in this process
                hidden = self._model(**enc).last_hidden_state
            vec = mean_pool(hidden, enc["attention_mask"]) if pooling == "mean" else hidden[:, 0]
            for t, v in zip(chunk, vec.numpy(), strict=True):
                self._mem[t, pooling] = v
