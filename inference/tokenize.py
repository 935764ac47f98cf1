"""One tokenisation path for every backend, so torch and ONNX see identical inputs."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer


class BatchTokenizer:
    """``tokenizer.json`` with truncation; pads each batch only to its longest member."""

    def __init__(self, path: str | Path, max_length: int, prefix: str = "") -> None:
        self.prefix = prefix  # put before every text, as in training (E5's "query: ")
        self.tokenizer = Tokenizer.from_file(str(path))
        self.tokenizer.no_padding()
        # Truncation keeps the special tokens: a 50 000-character unit is cut, never an error.
        self.tokenizer.enable_truncation(max_length=max_length)
        pad_id = self.tokenizer.token_to_id("<pad>")
        if pad_id is None:
            pad_id = self.tokenizer.token_to_id("[PAD]")
        self.pad_id = 0 if pad_id is None else pad_id

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """Token ids of each text, unpadded: sort or batch them, then ``pad``."""
        return self.tokenizer.encode_batch([self.prefix + t for t in texts])

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.encode(texts))

    def pad(self, encodings: Sequence[Encoding]) -> dict[str, np.ndarray]:
        """Model inputs for one batch, padded to its longest member."""
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask}
