"""Parallel token streams for truncated BPTT over a corpus of documents.

A corpus of documents (token-id arrays) becomes B parallel streams, as in char-rnn: the
(input, target) pairs of all documents, in order, are cut into B contiguous pieces of about
equal length, one per stream, so every stream reads text in its natural order and the hidden
state carried from one window to the next stays meaningful.

Documents do not share state: wherever a new document (or the middle of one, at the start of
a piece) begins inside a stream, the stream is padded to the next multiple of the window length
k1 first, so every fresh start falls on a window boundary where the trainer resets that row.
Padding steps are invalid (mask False): they carry the state and count in no loss.

`segment_length` also restarts from zero state every that many steps inside long documents.
A model trained only on carried states can drift into poor attractors when it starts from the
zero state (as in generation, or the first window of an evaluation); regular fresh starts keep
it used to them, at a cost of ≤ k1 padded steps per segment and a little lost context.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .._validation import check_positive_int, describe


@dataclass
class Streams:
    """B parallel streams of N steps (N a multiple of k1).

    inputs, targets: (B, N) int64 token ids (0 at padding); valid: (B, N) bool;
    starts: (B, N) bool, True where a fresh sequence begins (its state must start at zero).
    """

    inputs: np.ndarray
    targets: np.ndarray
    valid: np.ndarray
    starts: np.ndarray
    k1: int

    @property
    def n_streams(self) -> int:
        return self.inputs.shape[0]

    @property
    def length(self) -> int:
        return self.inputs.shape[1]

    @property
    def n_windows(self) -> int:
        return self.length // self.k1

    @property
    def n_tokens(self) -> int:
        """Number of valid (input, target) pairs."""
        return int(self.valid.sum())


def make_streams(
    documents: list[np.ndarray], n_streams: int, k1: int, segment_length: int | None = None
) -> Streams:
    """Cut the (input, target) pairs of `documents` into `n_streams` streams, aligned to k1;
    with `segment_length`, also start afresh every that many pairs inside a document."""
    n_streams = check_positive_int(n_streams, "make_streams", "n_streams")
    k1 = check_positive_int(k1, "make_streams", "k1")
    if segment_length is not None:
        segment_length = check_positive_int(segment_length, "make_streams", "segment_length")
    if not isinstance(documents, (list, tuple)) or not documents:
        raise ValueError(
            f"make_streams: expected a non-empty list of token arrays, got {describe(documents)}"
        )
    xs, ys, doc_ids = [], [], []
    for i, doc in enumerate(documents):
        doc = np.asarray(doc)
        if doc.ndim != 1 or doc.dtype.kind not in "iu":
            raise ValueError(
                f"make_streams: document {i}: expected a 1-D integer array, got {describe(doc)}"
            )
        if len(doc) < 2:
            continue  # no (input, target) pair
        xs.append(doc[:-1])
        ys.append(doc[1:])
        doc_ids.append(np.full(len(doc) - 1, i))
    if not xs:
        raise ValueError("make_streams: every document is shorter than 2 tokens")
    x, y, d = np.concatenate(xs), np.concatenate(ys), np.concatenate(doc_ids)
    if len(x) < n_streams:
        raise ValueError(
            f"make_streams: {len(x)} training pairs cannot fill {n_streams} "
            f"streams; use fewer streams (a smaller batch size)"
        )
    bounds = np.linspace(0, len(x), n_streams + 1).astype(int)
    pieces = []
    for b in range(n_streams):
        lo, hi = bounds[b], bounds[b + 1]
        pieces.append(_aligned_piece(x[lo:hi], y[lo:hi], d[lo:hi], k1, segment_length))
    N = max(len(p[0]) for p in pieces)
    out = Streams(
        np.zeros((n_streams, N), np.int64),
        np.zeros((n_streams, N), np.int64),
        np.zeros((n_streams, N), bool),
        np.zeros((n_streams, N), bool),
        k1,
    )
    for b, (px, py, pv, ps) in enumerate(pieces):
        out.inputs[b, : len(px)] = px
        out.targets[b, : len(px)] = py
        out.valid[b, : len(px)] = pv
        out.starts[b, : len(px)] = ps
    return out


def _aligned_piece(x, y, d, k1, segment_length):
    """One stream: fragments of consecutive documents, each padded to a multiple of k1."""
    cut = np.flatnonzero(np.diff(d)) + 1
    if segment_length is not None:  # fresh starts inside long documents too
        bounds = np.concatenate([[0], cut, [len(x)]])
        extra = [
            np.arange(lo + segment_length, hi, segment_length)
            for lo, hi in itertools.pairwise(bounds)
        ]
        cut = np.unique(np.concatenate([cut, *extra])).astype(int)
    parts_x, parts_y, parts_v, parts_s = [], [], [], []
    for fx, fy in zip(np.split(x, cut), np.split(y, cut), strict=True):
        n = len(fx)
        padded = -(-n // k1) * k1
        px = np.zeros(padded, np.int64)
        py = np.zeros(padded, np.int64)
        px[:n], py[:n] = fx, fy
        valid = np.arange(padded) < n
        start = np.zeros(padded, bool)
        start[0] = True
        parts_x.append(px)
        parts_y.append(py)
        parts_v.append(valid)
        parts_s.append(start)
    return (
        np.concatenate(parts_x),
        np.concatenate(parts_y),
        np.concatenate(parts_v),
        np.concatenate(parts_s),
    )
