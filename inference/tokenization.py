"""One tokenisation path for every backend and for training, so all see identical inputs.

A unit alone is encoded as ``[prefix + unit]`` truncated to ``max_length``; a unit
with a context (``inference.context``) as the pair ``[prefix + unit] [context]``,
where the context gets at most ``context_tokens`` tokens and whatever room the
unit leaves: truncation cuts the context, never the unit first. Text is cut to
a bounded number of characters before the tokenizer sees it, so one 20 MB line
costs what a long sentence costs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Encoding, Tokenizer

from clausetag.inference.safeload import read_tokenizer_json

#: Characters kept per token of budget before tokenizing: a token is rarely longer than a few
#: characters, so a text cut there still fills every position it could have filled.
CHARS_PER_TOKEN = 32


def clean_text(text: str, max_chars: int) -> str:
    """``text`` cut to ``max_chars`` characters, lone surrogates (not UTF-8) replaced by U+FFFD."""
    text = text[:max_chars]
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def _pad_id(tokenizer: Tokenizer) -> int:
    for token in ("<pad>", "[PAD]"):
        pad_id = tokenizer.token_to_id(token)
        if pad_id is not None:
            return pad_id
    return 0


class BatchTokenizer:
    """``tokenizer.json`` with the model's truncation recipe; pads each batch to its longest member."""

    def __init__(
        self,
        path: str | Path | Tokenizer,
        max_length: int,
        prefix: str = "",
        context_tokens: int = 0,
    ) -> None:
        """``path``: a ``tokenizer.json`` or a loaded ``tokenizers.Tokenizer`` (copied, never changed)."""
        self.prefix = prefix  # put before every text, as in training (E5's "query: ")
        self.max_length = max_length
        self.context_tokens = context_tokens
        if isinstance(path, Tokenizer):
            self.tokenizer = Tokenizer.from_str(path.to_str())
        else:
            self.tokenizer = Tokenizer.from_str(read_tokenizer_json(path))  # the guarded reader
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()  # cut here, by the recipe, after encoding without specials
        self.pad_id = _pad_id(self.tokenizer)
        self._specials = (
            self.tokenizer.num_special_tokens_to_add(False),
            self.tokenizer.num_special_tokens_to_add(True),
        )

    def _encodings(self, texts: Sequence[str], contexts: Sequence[str] | None) -> list[Encoding]:
        chars = self.max_length * CHARS_PER_TOKEN
        units = self.tokenizer.encode_batch(
            [clean_text(self.prefix + t, chars) for t in texts], add_special_tokens=False
        )
        seconds: list[Encoding | None] = [None] * len(units)
        if self.context_tokens and contexts is not None:
            seconds = list(
                self.tokenizer.encode_batch(
                    [clean_text(c, self.context_tokens * CHARS_PER_TOKEN) for c in contexts],
                    add_special_tokens=False,
                )
            )
        out = []
        for unit, second in zip(units, seconds, strict=True):
            room = min(self.context_tokens, self.max_length - self._specials[1] - len(unit.ids))
            if second is not None and room > 0 and len(second.ids):
                second.truncate(room)
                out.append(self.tokenizer.post_process(unit, second))
            else:
                unit.truncate(max(self.max_length - self._specials[0], 1))
                out.append(self.tokenizer.post_process(unit))
        return out

    def encode(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> list[Encoding]:
        """The tokenizer's full encodings (pieces, offsets, …) of each text, unpadded."""
        return self._encodings(texts, contexts)

    def encode_ids(
        self, texts: Sequence[str], contexts: Sequence[str] | None = None, chunk: int = 256
    ) -> list[np.ndarray]:
        """Token ids of each text (with its context), unpadded: sort or batch them, then ``pad``.

        Encoded ``chunk`` texts at a time and kept as small int32 arrays: a full
        ``Encoding`` per text (pieces, offsets, word ids) costs about 20 kB, which for
        a batch script's thousands of units was the largest memory use after the model.
        """
        out: list[np.ndarray] = []
        for k in range(0, len(texts), chunk):
            part = None if contexts is None else contexts[k : k + chunk]
            out += [np.asarray(e.ids, dtype=np.int32) for e in self._encodings(texts[k : k + chunk], part)]
        return out

    def __call__(self, texts: Sequence[str], contexts: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        return self.pad(self.encode_ids(texts, contexts))

    def pad(self, token_ids: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
        """Model inputs for one batch, padded to its longest member."""
        width = max(len(t) for t in token_ids)
        ids = np.full((len(token_ids), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(token_ids), width), dtype=np.int64)
        for row, t in enumerate(token_ids):
            ids[row, : len(t)] = t
            mask[row, : len(t)] = 1
        return {"input_ids": ids, "attention_mask": mask}
