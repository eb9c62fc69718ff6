"""Phoneme and word error rates of grapheme-to-phoneme output against several references.

Edit distance (Levenshtein 1966): the least number of substitutions, insertions and deletions
that turn sequence a into b, by the dynamic programme

    D[i, 0] = i,   D[0, j] = j
    D[i, j] = min(D[i−1, j] + 1,  D[i, j−1] + 1,  D[i−1, j−1] + [a_i ≠ b_j])

For a word w with hypothesis h and references R_w (CMUdict lists several pronunciations for
some words; any of them is correct), the closest reference r*_w = argmin_r D(h, r) (ties: the
shorter reference, then the first), and over the N words of a test set

    PER = Σ_w D(h_w, r*_w) / Σ_w |r*_w|          (phoneme error rate)
    WER = (1/N) Σ_w [h_w ∉ R_w]                  (word error rate: no exact match)

as in Bisani & Ney (2008) and Yao & Zweig (2015). Rates are fractions in [0, 1]; PER can pass
1 when the output is much longer than the reference.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance between two sequences of tokens (module docstring)."""
    if isinstance(a, str) != isinstance(b, str):
        raise TypeError(
            f"edit_distance: expected two sequences of the same kind, got "
            f"{type(a).__name__} and {type(b).__name__}"
        )
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))  # D[0, :], one row of D at a time over the shorter b
    for i, token in enumerate(a, 1):
        prev, row = row, [i]
        for j, other in enumerate(b, 1):
            row.append(min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (token != other)))
    return row[-1]


def closest_reference(
    hypothesis: Sequence[str], references: Sequence[Sequence[str]]
) -> tuple[int, int]:
    """(edit distance, length) of the reference nearest to `hypothesis` (ties: shorter, first)."""
    if not references:
        raise ValueError("closest_reference: expected at least one reference, got none")
    best = min(
        ((edit_distance(hypothesis, r), len(r), k) for k, r in enumerate(references)),
    )
    return best[0], best[1]


@dataclass(frozen=True)
class G2PScore:
    """Counts and rates of one evaluation (module docstring)."""

    per: float
    wer: float
    words: int
    word_errors: int
    phoneme_errors: int
    reference_phonemes: int


def score(
    hypotheses: Sequence[Sequence[str]], references: Sequence[Sequence[Sequence[str]]]
) -> G2PScore:
    """PER and WER of one hypothesis per word against that word's references."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"g2p score: expected one hypothesis per word, got {len(hypotheses)} hypotheses "
            f"for {len(references)} words"
        )
    if not references:
        raise ValueError("g2p score: expected at least one word, got none")
    errors = length = wrong = 0
    for k, (hyp, refs) in enumerate(zip(hypotheses, references, strict=True)):
        if isinstance(hyp, str) or any(isinstance(r, str) for r in refs):
            raise TypeError(
                f"g2p score: word {k}: expected sequences of phonemes (lists or tuples of "
                f"str), got a str; split it first"
            )
        dist, n = closest_reference(hyp, refs)
        if n == 0:
            raise ValueError(f"g2p score: word {k} has an empty reference pronunciation")
        errors += dist
        length += n
        wrong += dist != 0
    return G2PScore(
        errors / length, wrong / len(references), len(references), wrong, errors, length
    )
