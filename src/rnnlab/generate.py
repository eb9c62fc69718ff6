"""Sampling from a sequence model, one token at a time, in constant memory.

For next-token logits z (V,), the sampling distribution is

    p = softmax(z / τ)                 temperature τ > 0 (τ → 0: greedy; τ = 0 means argmax)
    top-k:  keep the k most likely tokens, renormalise
    top-p:  keep the smallest set of most likely tokens whose mass reaches p (nucleus
            sampling, Holtzman et al. 2020), renormalise

`sample_steps` runs the priming text through the model in one call, then feeds each sampled
token back with T = 1 steps while the recurrent layers carry their state (stateful), so memory
does not grow with the length generated; each step yields a `SampleStep` (the character read,
the last recurrent layer's hidden state, the sampling distribution, the character drawn), which
the explorer's generation view shows. `stream` yields just the characters, `generate` joins
them. The same seed gives the same text. Models read token ids (an Embedding first) or one-hot
vectors (a recurrent layer first).
"""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from . import config
from ._validation import describe
from .layers.core import Dense
from .model import Sequential


class Vocabulary(Protocol):
    def encode(self, text: str) -> np.ndarray: ...
    def decode(self, ids) -> str: ...
    def __len__(self) -> int: ...


def check_sampling(temperature, top_k, top_p) -> None:
    """Validate sampling options (shared by the API and the CLI)."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not np.isfinite(temperature)
        or temperature < 0
    ):
        raise ValueError(f"expected temperature ≥ 0, got {temperature!r}")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral) or top_k < 1
    ):
        raise ValueError(f"expected top_k to be a positive int or None, got {top_k!r}")
    if top_p is not None and (
        isinstance(top_p, bool) or not isinstance(top_p, numbers.Real) or not 0 < top_p <= 1
    ):
        raise ValueError(f"expected top_p in (0, 1] or None, got {top_p!r}")


def sampling_distribution(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """The probabilities to sample the next token from, given logits (V,)."""
    check_sampling(temperature, top_k, top_p)
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 1 or not np.isfinite(z).all():
        raise ValueError(f"expected finite logits of shape (V,), got {describe(z)}")
    if temperature == 0:
        p = np.zeros_like(z)
        p[np.argmax(z)] = 1.0
        return p
    z = z / temperature
    z -= z.max()
    with np.errstate(under="ignore"):
        p = np.exp(z)
    p /= p.sum()
    if top_k is not None and top_k < len(p):
        cutoff = np.partition(p, -top_k)[-top_k]
        keep = p >= cutoff
        if keep.sum() > top_k:  # ties at the cutoff: keep the first ones in order of size
            order = np.argsort(-p, kind="stable")
            keep = np.zeros_like(keep)
            keep[order[:top_k]] = True
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    if top_p is not None and top_p < 1:
        order = np.argsort(-p, kind="stable")
        mass = np.cumsum(p[order])
        n_keep = int(np.searchsorted(mass, top_p * (1 - 1e-12)) + 1)
        keep = np.zeros(len(p), bool)
        keep[order[:n_keep]] = True
        p = np.where(keep, p, 0.0)
        p /= p.sum()
    return p


def _outputs_probabilities(model: Sequential) -> bool:
    last = model.layers[-1]
    return isinstance(last, Dense) and last.activation == "softmax"


class _Streaming:
    """Context: recurrent layers carry state between T = 1 calls; restored afterwards."""

    def __init__(self, model: Sequential):
        self.layers = model.recurrent_layers()

    def __enter__(self):
        self.saved = [(layer.stateful, layer.states) for layer in self.layers]
        for layer in self.layers:
            layer.stateful = True
            layer.states = None
        return self

    def __exit__(self, *exc):
        for layer, (flag, states) in zip(self.layers, self.saved, strict=True):
            layer.stateful, layer.states = flag, states


@dataclass(frozen=True)
class SampleStep:
    """One generated token and what produced it.

    t: 0-based step; input: the character the model read last (the prime's last character at
    t = 0, else the previous sample); hidden: (H,) float64, the last recurrent layer's hidden
    state after reading it; probabilities: (V,) float64, the distribution `token` was drawn
    from (temperature, top-k and top-p applied); token: the id drawn; text: its character.
    """

    t: int
    input: str
    hidden: np.ndarray
    probabilities: np.ndarray
    token: int
    text: str


def _check_stream_args(model, prime, length, temperature, top_k, top_p, who: str) -> None:
    if not isinstance(model, Sequential) or not model.layers:
        raise TypeError(f"{who}: expected a Sequential model, got {describe(model)}")
    if not isinstance(prime, str) or not prime:
        raise ValueError(f"{who}: expected a non-empty priming text, got {prime!r}")
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ValueError(f"{who}: expected length ≥ 0, got {length!r}")
    check_sampling(temperature, top_k, top_p)


def sample_steps(
    model: Sequential,
    vocab: Vocabulary,
    prime: str = "\n",
    length: int = 300,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[SampleStep]:
    """Yield `length` SampleSteps after `prime`, lazily (nothing is computed ahead).

    The recurrent layers carry their state between steps and get their own state and
    `stateful` flag back when the generator ends or is closed.
    """
    _check_stream_args(model, prime, length, temperature, top_k, top_p, "sample_steps")
    rng = np.random.default_rng(seed)
    probabilities = _outputs_probabilities(model)
    one_hot = None if model.input_is_ids else np.eye(len(vocab), dtype=model.layers[0].dtype)
    last_rnn = model.recurrent_layers()[-1] if model.recurrent_layers() else None
    ids = np.asarray(vocab.encode(prime), dtype=np.int64)[None, :]  # (1, T)
    current = prime[-1]
    with _Streaming(model):
        for t in range(length):
            x = ids if one_hot is None else one_hot[ids]  # (1, T) or (1, T, V)
            with config.no_grad():  # scoped to the call: a generator must not leak it
                out = model.forward(x)  # (1, T, V)
            last = out[0, -1].astype(np.float64)
            if probabilities:
                with np.errstate(divide="ignore"):
                    last = np.log(np.maximum(last, 1e-300))
            p = sampling_distribution(last, temperature, top_k, top_p)
            token = int(rng.choice(len(p), p=p))
            text = vocab.decode([token])
            hidden = (
                np.zeros(0)
                if last_rnn is None
                else np.array(last_rnn.states[0][0], dtype=np.float64)
            )  # (H,)
            yield SampleStep(t, current, hidden, p, token, text)
            current = text
            ids = np.array([[token]], dtype=np.int64)


def stream(
    model: Sequential,
    vocab: Vocabulary,
    prime: str = "\n",
    length: int = 300,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> Iterator[str]:
    """Yield `length` sampled characters (tokens decoded one by one) after `prime`."""
    _check_stream_args(model, prime, length, temperature, top_k, top_p, "stream")
    for step in sample_steps(model, vocab, prime, length, temperature, top_k, top_p, seed):
        yield step.text


def generate(
    model: Sequential,
    vocab: Vocabulary,
    prime: str = "\n",
    length: int = 300,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    seed: int | None = None,
) -> str:
    """The text `stream` yields, joined (without the prime)."""
    return "".join(stream(model, vocab, prime, length, temperature, top_k, top_p, seed))
