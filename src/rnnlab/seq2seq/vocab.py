"""Vocabulary: tokens <-> ids with the special ids every seq2seq model here expects.

PAD = 0   padding (masked out of the encoder, the attention and the loss)
BOS = 1   the decoder's first input
EOS = 2   ends every target; decoding stops at it
OOV = 3   any token not in the vocabulary (encode() counts them, so callers can say so)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from .._validation import describe

PAD, BOS, EOS, OOV = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<oov>")


class Vocabulary:
    """A fixed list of tokens; ids 0–3 are the specials (module docstring)."""

    def __init__(self, tokens: Iterable[str]):
        words = list(tokens)
        bad = [t for t in words if not isinstance(t, str) or not t]
        if bad:
            raise TypeError(f"Vocabulary: expected non-empty str tokens, got {describe(bad[0])}")
        self.itos = list(SPECIALS) + [t for t in dict.fromkeys(words) if t not in SPECIALS]
        self.stoi = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(
        cls, sequences: Iterable[Sequence[str]], min_count: int = 1, max_size: int | None = None
    ) -> Vocabulary:
        """The tokens of `sequences` seen at least min_count times, most frequent first."""
        counts = Counter(t for seq in sequences for t in seq)
        ranked = sorted(
            (t for t, c in counts.items() if c >= min_count), key=lambda t: (-counts[t], t)
        )
        return cls(ranked[:max_size] if max_size is not None else ranked)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: Sequence[str], add_eos: bool = True) -> tuple[list[int], int]:
        """ids (unknown tokens -> OOV) and the number of unknown tokens."""
        ids = [self.stoi.get(t, OOV) for t in tokens]
        unknown = sum(1 for t in tokens if t not in self.stoi)
        return ([*ids, EOS] if add_eos else ids), unknown

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens up to (not including) the first EOS, without PAD and BOS."""
        out = []
        for i in ids:
            i = int(i)
            if i == EOS:
                break
            if i in (PAD, BOS):
                continue
            if not 0 <= i < len(self.itos):
                raise ValueError(f"Vocabulary: id {i} outside [0, {len(self.itos)})")
            out.append(self.itos[i])
        return out

    def batch(self, sequences: Sequence[Sequence[str]], add_eos: bool = True) -> np.ndarray:
        """A right-padded (B, max length) int64 array of ids."""
        if not sequences:
            raise ValueError("Vocabulary.batch: expected at least one sequence, got none")
        rows = [self.encode(s, add_eos)[0] for s in sequences]
        if any(not r for r in rows):
            raise ValueError("Vocabulary.batch: empty sequence (nothing to encode)")
        out = np.full((len(rows), max(len(r) for r in rows)), PAD, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out

    def get_config(self) -> dict:
        return {"tokens": self.itos[len(SPECIALS) :]}
