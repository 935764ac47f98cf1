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
        """The tokenizer's full encodings (pieces, offsets, …) of each text, unpadded."""
        return self.tokenizer.encode_batch([self.prefix + t for t in texts])

    def encode_ids(self, texts: Sequence[str], chunk: int = 256) -> list[np.ndarray]:
        """Token ids of each text, unpadded: sort or batch them, then ``pad``.

        Encoded ``chunk`` texts at a time and kept as small int32 arrays: a full
        ``Encoding`` per text (pieces, offsets, word ids) costs about 20 kB, which for
        a batch script's thousands of units was the largest memory use after the model.
        """
        out: list[np.ndarray] = []
        for k in range(0, len(texts), chunk):
            out += [np.asarray(e.ids, dtype=np.int32) for e in self.encode(texts[k : k + chunk])]
        return out

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        return self.pad(self.encode_ids(texts))

    def pad(self, token_ids: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Model inputs for one batch, padded to its longest member."""
        width = max(len(t) for t in token_ids)
        ids = np.full((len(token_ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, t in enumerate(token_ids):
            ids[row, : len(t)] = t
            mask[row, : len(t)] = 1
        return {"input_ids": ids, "attention_mask": mask}
