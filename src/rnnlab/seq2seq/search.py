"""Decoding: greedy and beam search, batched, with the attention weights of every token.

Greedy: y_t = argmax_y log p(y | y_<t, x), until EOS or max_len.

Beam search (width K, batched: the B sources × K hypotheses are one batch of the decoder):
at each step every live hypothesis is extended by every token, and of the B·K·V candidates the
2K best per source (by summed log-probability) are looked at in order: a candidate ending in
EOS among the first K is finished, the first K others live on. A source is done once it has K
finished hypotheses (or at max_len, when its live ones count as finished). The answer is the
finished hypothesis with the best length-normalised score (Wu et al. 2016, GNMT):

    score(Y) = log P(Y | X) / lp(Y),     lp(Y) = ((5 + |Y|) / 6)^α

|Y| counts the emitted tokens including EOS; α = length_penalty (0 = raw log-probability; GNMT
uses 0.6–0.7). Width 1 is greedy search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import config
from .._validation import describe
from ..layers.attention import quiet_underflow
from .decoder import reorder_state


@dataclass
class Hypothesis:
    """A decoded sequence: tokens (without BOS and EOS), its summed log-probability, its
    (length-normalised) score, and, on request, the attention weights (len(tokens) + 1, S):
    one row per emitted token, the last for EOS (absent when max_len cut it)."""

    tokens: list[int]
    log_prob: float
    score: float
    attention: np.ndarray | None = None


def length_penalty(length: int, alpha: float) -> float:
    """Wu et al. (2016): ((5 + |Y|) / 6)^α."""
    return ((5.0 + length) / 6.0) ** alpha


def _check_max_len(max_len) -> int:
    if not isinstance(max_len, (int, np.integer)) or isinstance(max_len, bool) or max_len < 1:
        raise ValueError(f"decoding: expected max_len to be a positive int, got {max_len!r}")
    return int(max_len)


@quiet_underflow
def greedy_decode(
    model, src, src_mask=None, *, max_len: int = 50, return_attention: bool = False
) -> list[Hypothesis]:
    """The argmax token at every step, for a batch of sources (B, S)."""
    max_len = _check_max_len(max_len)
    with config.no_grad():
        memory, mask, init, _ = model.encode(src, src_mask)
        dec = model.decoder
        state = dec.start(memory, mask, init)
        B = memory.shape[0]
        last = np.full(B, model.bos_id)
        done = np.zeros(B, dtype=bool)
        tokens, log_probs, weights = [], np.zeros(B), []
        for _ in range(max_len):
            log_p, state, w = dec.step(last, state)
            last = log_p.argmax(axis=-1)
            log_probs += np.where(done, 0.0, log_p[np.arange(B), last])
            tokens.append(np.where(done, model.pad_id, last))
            weights.append(w)
            done |= last == model.eos_id
            if done.all():
                break
    out = []
    for b in range(B):
        seq = [int(t[b]) for t in tokens]
        n = seq.index(model.eos_id) + 1 if model.eos_id in seq else len(seq)
        att = None
        if return_attention and weights[0] is not None:
            att = np.stack([w[b] for w in weights[:n]])
        body = seq[: n - 1] if seq[n - 1 : n] == [model.eos_id] else seq[:n]
        out.append(Hypothesis(body, float(log_probs[b]), float(log_probs[b]), att))
    return out


@quiet_underflow
def beam_search(
    model,
    src,
    src_mask=None,
    *,
    beam_width: int = 5,
    max_len: int = 50,
    length_penalty: float = 0.6,
    return_attention: bool = False,
) -> list[Hypothesis]:
    """The best hypothesis per source by beam search (module docstring)."""
    if (
        not isinstance(beam_width, (int, np.integer))
        or isinstance(beam_width, bool)
        or beam_width < 1
    ):
        raise ValueError(
            f"beam_search: expected beam_width to be a positive int, got {describe(beam_width)}"
        )
    if not isinstance(length_penalty, (int, float)) or not 0 <= length_penalty <= 10:
        raise ValueError(
            f"beam_search: expected length_penalty α in [0, 10], got {length_penalty!r}"
        )
    max_len = _check_max_len(max_len)
    alpha, K, eos = float(length_penalty), int(beam_width), model.eos_id
    with config.no_grad():
        memory, mask, init, _ = model.encode(src, src_mask)
        dec = model.decoder
        B = memory.shape[0]
        state = reorder_state(dec.start(memory, mask, init), np.repeat(np.arange(B), K))
        scores = np.full((B, K), -np.inf)
        scores[:, 0] = 0.0  # one live hypothesis per source at the start
        hist = np.zeros((B, K, 0), dtype=np.int64)
        att = None
        last = np.full(B * K, model.bos_id)
        finished: list[list[Hypothesis]] = [[] for _ in range(B)]
        done = np.zeros(B, dtype=bool)
        for t in range(max_len):
            log_p, state, w = dec.step(last, state)  # (B·K, V)
            V = log_p.shape[1]
            cand = (scores[:, :, None] + log_p.reshape(B, K, V)).reshape(B, K * V)
            n_top = min(2 * K, K * V)
            top = np.argpartition(-cand, n_top - 1, axis=1)[:, :n_top]
            order = np.argsort(-np.take_along_axis(cand, top, axis=1), axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)  # (B, 2K), best first
            w_all = None if w is None else w.reshape(B, K, -1)
            new_beam = np.zeros((B, K), dtype=np.int64)
            new_tok = np.full((B, K), model.pad_id, dtype=np.int64)
            new_scores = np.full((B, K), -np.inf)
            for b in range(B):
                if done[b]:
                    continue
                j = 0
                for r, flat in enumerate(top[b]):
                    sc = cand[b, flat]
                    if not np.isfinite(sc) or j == K:
                        break
                    beam, tok = divmod(int(flat), V)
                    if tok == eos:
                        if r < K:
                            a = None
                            if return_attention and w_all is not None:
                                past = att[b, beam] if att is not None else w_all[b, beam][None][:0]
                                a = np.concatenate([past, w_all[b, beam][None]])
                            n = t + 1
                            finished[b].append(
                                Hypothesis(
                                    [int(x) for x in hist[b, beam]],
                                    float(sc),
                                    float(sc) / _lp(n, alpha),
                                    a,
                                )
                            )
                    else:
                        new_beam[b, j], new_tok[b, j], new_scores[b, j] = beam, tok, sc
                        j += 1
                if len(finished[b]) >= K or j == 0:
                    done[b] = True
                    new_scores[b] = -np.inf
            if return_attention and w_all is not None:
                rows = np.take_along_axis(w_all, new_beam[:, :, None], axis=1)  # (B, K, S)
                prev = (
                    np.zeros((B, K, 0, w_all.shape[-1]))
                    if att is None
                    else np.take_along_axis(att, new_beam[:, :, None, None], axis=1)
                )
                att = np.concatenate([prev, rows[:, :, None]], axis=2)
            hist = np.concatenate(
                [np.take_along_axis(hist, new_beam[:, :, None], axis=1), new_tok[:, :, None]],
                axis=2,
            )
            scores = new_scores
            if done.all():
                break
            index = (np.arange(B)[:, None] * K + new_beam).ravel()
            state = reorder_state(state, index)
            last = new_tok.ravel()
    out = []
    for b in range(B):
        pool = list(finished[b])
        if not done[b]:  # max_len reached: the live hypotheses compete too
            for k in range(K):
                if np.isfinite(scores[b, k]):
                    a = att[b, k] if return_attention and att is not None else None
                    n = hist.shape[2]
                    pool.append(
                        Hypothesis(
                            [int(x) for x in hist[b, k]],
                            float(scores[b, k]),
                            float(scores[b, k]) / _lp(n, alpha),
                            a,
                        )
                    )
        out.append(max(pool, key=lambda h: h.score))
    return out


_lp = length_penalty
