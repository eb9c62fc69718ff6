"""Attention layers: Bahdanau (additive) and Luong (dot, general), and Keras' Attention and
AdditiveAttention. One home for the math: `AttentionBase` below; the classes only choose
which parameters the score uses.

For a query q_t (row t of (B, Tq, Dq)), keys k_s and values v_s (rows of (B, S, ·)) and a mask
over the source (B, S) (True = valid):

    additive (Bahdanau 2015):   e_ts = vᵀ tanh(σ (W_q q_t + W_k k_s))     v (A,), W_q (A, Dq),
                                                                          W_k (A, Dk)
    dot (Luong 2015):           e_ts = c q_tᵀ k_s                          c = 1 or a scale
    general (Luong 2015):       e_ts = c q_tᵀ W k_s                        W (Dq, Dk)
    α_ts = exp(e_ts) / Σ_{s' valid} exp(e_ts')    (0 at masked s)
    context_t = Σ_s α_ts v_s                                              (B, Tq, Dv)

Keras' layers are the same math with their own parameters: `Attention(use_scale, score_mode)`
is dot with a trainable scalar scale c (init 1), or score_mode="concat":
e_ts = w Σ_a tanh(σ (q_t + k_s))_a with scalars w (init 1) and σ (the scale, when use_scale);
`AdditiveAttention(use_scale)` is e_ts = Σ_a s_a tanh(q_t + k_s)_a with s (Dk,) (glorot) or 1.

Inputs are Keras': forward([query, value]) or forward([query, value, key]) (key defaults to
value); a query of shape (B, Dq) is one query step and gives a context (B, Dv). mask: the value
mask (B, S), or Keras' list [query_mask, value_mask] (query_mask (B, Tq) zeroes the context
rows it marks False). Every row needs at least one valid source position.
With return_attention_scores=True forward returns [context, weights (B, Tq, S)] and backward
takes [d_context, d_weights]; backward returns [dq, dv] (or [dq, dv, dk] when a key was given).

Backward, with g_ts = ∂L/∂α_ts = d_context_t · v_s (+ d_weights):
    ∂L/∂e_ts = α_ts (g_ts − Σ_s' α_ts' g_ts')
    dot/general: ∂L/∂q_t = c Σ_s ∂e_ts k̃_s, ∂L/∂k̃_s = c Σ_t ∂e_ts q_t, k̃ = k (dot) or k Wᵀ
    additive:    u = tanh(σ(q̃_t + k̃_s)), ∂L/∂u = ∂e v, ∂L/∂(q̃+k̃) = σ (1 − u²) ∂L/∂u
The decoder of rnnlab.seq2seq calls the pieces (project_keys, attend and their backwards)
directly, so the keys are projected once per source sequence, not once per decoder step.
"""

from __future__ import annotations

import abc
import functools
from typing import Any

import numpy as np

from .. import initializers, native
from .._validation import as_float_array, check_bool, check_choice, check_positive_int, describe
from .base import Layer

SCORES = ("additive", "dot", "general")


def outer_sum(d: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Σ over all leading axes of d ⊗ x: the weight gradient (O, I) of y = x Wᵀ, as one GEMM
    (d (..., O), x (..., I))."""
    return native.matmul(d.reshape(-1, d.shape[-1]).T, x.reshape(-1, x.shape[-1]))


def quiet_underflow(fn):
    """Run fn with floating-point underflow ignored: e^(very negative) in the softmax and
    products of tiny weights round to 0 or subnormals, below any resolution of the result."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with np.errstate(under="ignore"):
            return fn(*args, **kwargs)

    return wrapped


class AttentionBase(Layer):
    """The math of every attention layer (module docstring). Subclasses set `score` and which
    parameters exist through `_param_shapes(dq, dk)` (abstract: this class is no layer type)."""

    score: str = "dot"
    config_keys = ("return_attention_scores",)

    def __init__(
        self,
        *,
        return_attention_scores: bool = False,
        name: str | None = None,
        dtype=None,
        seed: int | None = None,
    ):
        super().__init__(name=name, dtype=dtype, seed=seed)
        self.return_attention_scores = check_bool(
            return_attention_scores, self.who, "return_attention_scores"
        )
        self._cache: dict[str, Any] | None = None

    # -- parameters ---------------------------------------------------------------------------
    @abc.abstractmethod
    def _param_shapes(self, dq: int, dk: int) -> dict[str, tuple[tuple[int, ...], str]]:
        """name -> (shape, initializer) for query size dq and key size dk."""

    def build(self, input_shape) -> None:
        shapes = _check_shapes(input_shape, self.who)
        dq, dk = shapes[0][-1], shapes[-1][-1]
        if dq is None or dk is None:
            raise ValueError(f"{self.who}: expected known feature sizes, got {shapes}")
        self._check_sizes(dq, dk)
        for key, (shape, init) in self._param_shapes(dq, dk).items():
            fn = initializers.get(init, self.who)
            self._add_param(key, fn(shape, self.rng, self.dtype, hidden_size=max(shape or (1,))))
        self.query_dim, self.key_dim = dq, dk
        super().build(shapes)

    def build_for(self, query_dim: int, key_dim: int) -> None:
        """Build for queries of query_dim features and keys of key_dim (the decoder's call)."""
        self.build([(None, query_dim), (None, key_dim)])

    def _check_sizes(self, dq: int, dk: int) -> None:
        if self.score in ("dot", "keras_concat", "keras_additive") and dq != dk:
            raise ValueError(
                f"{self.who}: {self.score} attention needs queries and keys of one size, "
                f"got query size {dq} and key size {dk}"
            )

    def compute_output_shape(self, input_shape) -> tuple:
        shapes = _check_shapes(input_shape, self.who)
        q, v = shapes[0], shapes[1]
        out = (*q[:-1], v[-1])
        if self.return_attention_scores:
            return [out, (*q[:-1], v[0])]
        return out

    def compute_mask(self, mask, inputs=None):
        if isinstance(mask, (list, tuple)):
            return mask[0]
        return None

    # -- the pieces (also used step by step by rnnlab.seq2seq) ---------------------------------
    @quiet_underflow
    def project_keys(self, keys: np.ndarray) -> np.ndarray:
        """k̃ = k Wᵀ (general), k W_kᵀ (additive) or k itself: (B, S, Dk) -> (B, S, ·)."""
        p = self.params
        if self.score == "general":
            return native.matmul(keys, p["weight"].T)  # (B, S, Dq): k̃_s = W k_s, q·k̃ = qᵀ W k
        if self.score == "additive":
            return native.matmul(keys, p["key_weight"].T)  # (B, S, A)
        return keys

    @quiet_underflow
    def project_keys_backward(self, keys: np.ndarray, d_proj: np.ndarray) -> np.ndarray:
        """∂L/∂keys from ∂L/∂k̃; adds the projection's weight gradient into self.grads."""
        p, g = self.params, self.grads
        if self.score == "general":
            g["weight"] += outer_sum(d_proj, keys)
            return native.matmul(d_proj, p["weight"])
        if self.score == "additive":
            g["key_weight"] += outer_sum(d_proj, keys)
            return native.matmul(d_proj, p["key_weight"])
        return d_proj

    @quiet_underflow
    def attend(self, q: np.ndarray, k_proj: np.ndarray, values: np.ndarray, mask):
        """context (B, Tq, Dv), weights (B, Tq, S) and a cache, for q (B, Tq, Dq), projected
        keys (B, S, ·), values (B, S, Dv), mask (B, S) bool or None."""
        p = self.params
        cache: dict[str, Any] = {"q": q, "k": k_proj, "values": values}
        if self.score in ("dot", "general"):
            raw = q @ k_proj.transpose(0, 2, 1)  # (B, Tq, S)
            cache["raw"] = raw
            e = raw * p["scale"] if "scale" in p else raw
        else:
            q_proj = (
                native.matmul(q, p["query_weight"].T) if "query_weight" in p else q
            )  # (B, Tq, A)
            s = q_proj[:, :, None, :] + k_proj[:, None, :, :]  # (B, Tq, S, A)
            sigma = p["inner_scale"] if "inner_scale" in p else None
            u = np.tanh(s * sigma if sigma is not None else s)
            v = self._outer_weights(u.shape[-1])
            e = u @ v  # (B, Tq, S)
            cache.update(s=s, u=u, v=v)
        if mask is not None:
            e = np.where(mask[:, None, :], e, -np.inf)
        e = e - e.max(axis=-1, keepdims=True)
        w = np.exp(e)
        w /= w.sum(axis=-1, keepdims=True)  # (B, Tq, S)
        cache["w"] = w
        return w @ values, w, cache

    @quiet_underflow
    def attend_backward(self, cache, d_context, d_weights=None):
        """(dq, d_k_proj, d_values) from ∂L/∂context (and ∂L/∂weights); adds to self.grads."""
        p, g = self.params, self.grads
        w, values, q, k_proj = cache["w"], cache["values"], cache["q"], cache["k"]
        d_values = w.transpose(0, 2, 1) @ d_context  # (B, S, Dv)
        dw = d_context @ values.transpose(0, 2, 1)  # (B, Tq, S)
        if d_weights is not None:
            dw = dw + d_weights
        de = w * (dw - np.sum(w * dw, axis=-1, keepdims=True))  # (B, Tq, S); 0 where masked
        if self.score in ("dot", "general"):
            if "scale" in p:
                g["scale"] += np.sum(de * cache["raw"])
                de = de * p["scale"]
            dq = de @ k_proj  # (B, Tq, Dq)
            dk = de.transpose(0, 2, 1) @ q  # (B, S, Dq)
            return dq, dk, d_values
        u, v, s = cache["u"], cache["v"], cache["s"]
        du = de[..., None] * v  # (B, Tq, S, A)
        if "v" in p:
            g["v"] += de.reshape(-1) @ u.reshape(-1, u.shape[-1])
        elif "outer_scale" in p:
            g["outer_scale"] += np.sum(de * u.sum(axis=-1))
        dz = du * (1.0 - u * u)  # ∂L/∂(σ s)
        if "inner_scale" in p:
            g["inner_scale"] += np.sum(dz * s)
            dz = dz * p["inner_scale"]
        dq_proj = dz.sum(axis=2)  # (B, Tq, A)
        dk = dz.sum(axis=1)  # (B, S, A)
        if "query_weight" in p:
            g["query_weight"] += outer_sum(dq_proj, q)
            dq = native.matmul(dq_proj, p["query_weight"])
        else:
            dq = dq_proj
        return dq, dk, d_values

    def _outer_weights(self, size: int) -> np.ndarray:
        p = self.params
        if "v" in p:
            return p["v"]
        if "outer_scale" in p:
            return np.full(size, p["outer_scale"], dtype=self.dtype)
        return np.ones(size, dtype=self.dtype)

    def zero_grads(self) -> None:
        for g in self.grads.values():
            g[...] = 0.0

    # -- protocol -----------------------------------------------------------------------------
    @quiet_underflow
    def forward(self, x, mask=None, initial_state=None, training: bool = False):
        self._check_no_state(initial_state)
        q, values, keys = self._inputs(x)
        single = q.ndim == 2
        if single:
            q = q[:, None, :]
        B, Tq, S = q.shape[0], q.shape[1], values.shape[1]
        if not self.built:
            self.build([q.shape[1:], values.shape[1:], keys.shape[1:]])
        if q.shape[-1] != self.query_dim or keys.shape[-1] != self.key_dim:
            raise ValueError(
                f"{self.who}: built for query size {self.query_dim} and key size "
                f"{self.key_dim}, got {q.shape[-1]} and {keys.shape[-1]}"
            )
        query_mask, value_mask = self._masks(mask, B, Tq, S, single)
        k_proj = self.project_keys(keys)
        context, w, cache = self.attend(q, k_proj, values, value_mask)
        if query_mask is not None:
            context = context * query_mask[:, :, None]
        self._cache = {
            "attend": cache,
            "keys": keys,
            "single": single,
            "query_mask": query_mask,
            "key_given": len(x) == 3,
        }
        if single:
            context, w = context[:, 0], w[:, 0]
        return [context, w] if self.return_attention_scores else context

    @quiet_underflow
    def backward(self, dy, *dstates):
        cache = self._cache
        self._require_forward(cache)
        if self.return_attention_scores:
            if not isinstance(dy, (list, tuple)) or len(dy) != 2:
                raise ValueError(
                    f"{self.who}: expected dy as [d_context, d_weights], got {describe(dy)}"
                )
            d_context, d_weights = dy
        else:
            d_context, d_weights = dy, None
        a = cache["attend"]
        d_context = as_float_array(d_context, self.who, self.dtype, what="d_context")
        if cache["single"]:
            d_context = d_context[:, None, :]
            d_weights = None if d_weights is None else np.asarray(d_weights)[:, None, :]
        expected = (*a["w"].shape[:2], a["values"].shape[-1])
        if d_context.shape != expected:
            raise ValueError(
                f"{self.who}: expected d_context of shape {expected}, got {d_context.shape}"
            )
        if cache["query_mask"] is not None:
            d_context = d_context * cache["query_mask"][:, :, None]
        self.zero_grads()
        dq, dk_proj, dv = self.attend_backward(a, d_context, d_weights)
        dk = self.project_keys_backward(cache["keys"], dk_proj)
        if cache["single"]:
            dq = dq[:, 0]
        if cache["key_given"]:
            return [dq, dv, dk]
        return [dq, dv + dk]

    # -- input checks -------------------------------------------------------------------------
    def _inputs(self, x):
        if not isinstance(x, (list, tuple)) or len(x) not in (2, 3):
            raise ValueError(
                f"{self.who}: expected inputs [query, value] or [query, value, key], "
                f"got {describe(x)}"
            )
        arrays = [
            as_float_array(a, self.who, self.dtype, what=n)
            for a, n in zip(x, ("query", "value", "key"), strict=False)
        ]
        q, values = arrays[0], arrays[1]
        keys = arrays[2] if len(arrays) == 3 else values
        if q.ndim not in (2, 3) or values.ndim != 3 or keys.ndim != 3:
            raise ValueError(
                f"{self.who}: expected query (B, Tq, Dq) or (B, Dq), value (B, S, Dv) and key "
                f"(B, S, Dk), got shapes {q.shape}, {values.shape}, {keys.shape}"
            )
        if not (q.shape[0] == values.shape[0] == keys.shape[0]) or keys.shape[1] != values.shape[1]:
            raise ValueError(
                f"{self.who}: query, value and key disagree in batch or source length: "
                f"{q.shape}, {values.shape}, {keys.shape}"
            )
        if values.shape[1] == 0 or q.shape[0] == 0:
            raise ValueError(
                f"{self.who}: expected a non-empty batch and source, got value shape {values.shape}"
            )
        return q, values, keys

    def _masks(self, mask, B: int, Tq: int, S: int, single: bool):
        query_mask = None
        if isinstance(mask, (list, tuple)):
            if len(mask) != 2:
                raise ValueError(
                    f"{self.who}: expected mask as [query_mask, value_mask], got {describe(mask)}"
                )
            query_mask, mask = mask
            if query_mask is not None:
                query_mask = np.asarray(query_mask)
                if single and query_mask.shape == (B,):
                    query_mask = query_mask[:, None]
                if query_mask.dtype != np.bool_ or query_mask.shape != (B, Tq):
                    raise ValueError(
                        f"{self.who}: expected query_mask bool of shape {(B, Tq)}, got "
                        f"{describe(query_mask)}"
                    )
        return query_mask, check_source_mask(mask, self.who, B, S)


def check_source_mask(mask, who: str, B: int, S: int) -> np.ndarray | None:
    """A (B, S) bool mask with at least one valid position per row, or None."""
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != (B, S):
        raise ValueError(
            f"{who}: expected a bool source mask of shape {(B, S)}, got {describe(mask)}"
        )
    if not mask.any(axis=1).all():
        row = int(np.flatnonzero(~mask.any(axis=1))[0])
        raise ValueError(f"{who}: source mask row {row} has no valid position (empty source)")
    return None if mask.all() else mask


def _check_shapes(input_shape, who: str) -> list[tuple]:
    if (
        not isinstance(input_shape, (list, tuple))
        or len(input_shape) not in (2, 3)
        or not all(isinstance(s, (list, tuple)) for s in input_shape)
    ):
        raise ValueError(f"{who}: expected input shapes [query, value(, key)], got {input_shape!r}")
    return [tuple(s) for s in input_shape]


class BahdanauAttention(AttentionBase):
    """Additive attention (Bahdanau et al. 2015): e_ts = vᵀ tanh(W_q q_t + W_k k_s).

    Arguments:
        units: A, the size of the hidden layer of the score.
        return_attention_scores: forward returns [context, weights].
    Params: query_weight (A, Dq), key_weight (A, Dk), v (A,) (torch.nn.Linear layouts).
    """

    score = "additive"
    config_keys = ("units", "return_attention_scores")

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = check_positive_int(units, self.who, "units")

    def _param_shapes(self, dq, dk):
        A = self.units
        return {
            "query_weight": ((A, dq), "glorot_uniform"),
            "key_weight": ((A, dk), "glorot_uniform"),
            "v": ((A,), "glorot_uniform"),
        }


class LuongAttention(AttentionBase):
    """Multiplicative attention (Luong et al. 2015): score="dot" e_ts = q_tᵀ k_s (no params),
    score="general" e_ts = q_tᵀ W k_s with W (Dq, Dk)."""

    config_keys = ("score", "return_attention_scores")

    def __init__(self, score: str = "general", **kwargs):
        super().__init__(**kwargs)
        check_choice(score, self.who, "score", ("dot", "general"))
        self.score = score

    def _param_shapes(self, dq, dk):
        return {"weight": ((dq, dk), "glorot_uniform")} if self.score == "general" else {}


class Attention(AttentionBase):
    """Keras' dot-product attention layer (keras.layers.Attention): score_mode="dot" gives
    e_ts = c q_tᵀ k_s, with c a trainable scalar `scale` (init 1) when use_scale else 1;
    score_mode="concat" gives e_ts = w Σ_a tanh(σ (q_t + k_s))_a with the scalar
    `concat_score_weight` w (init 1) and σ = scale when use_scale. dropout is not supported
    (only 0.0)."""

    config_keys = ("use_scale", "score_mode", "return_attention_scores")

    def __init__(
        self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0, **kwargs
    ):
        super().__init__(**kwargs)
        self.use_scale = check_bool(use_scale, self.who, "use_scale")
        check_choice(score_mode, self.who, "score_mode", ("dot", "concat"))
        if dropout != 0.0:
            raise ValueError(f"{self.who}: attention dropout is not supported, got {dropout!r}")
        self.score_mode = score_mode
        self.score = "dot" if score_mode == "dot" else "keras_concat"

    def _param_shapes(self, dq, dk):
        shapes = {}
        if self.use_scale:
            shapes["scale" if self.score == "dot" else "inner_scale"] = ((), "ones")
        if self.score_mode == "concat":
            shapes["outer_scale"] = ((), "ones")
        return shapes

    def get_weights(self) -> list[np.ndarray]:
        """Keras' scalars: shape () (rnnlab keeps them as (1,) arrays)."""
        return [self.params[k].reshape(()).copy() for k in self.params]

    def set_weights(self, weights) -> None:
        """From Keras' get_weights(): scalars of shape () (or (1,))."""
        if isinstance(weights, (list, tuple)):
            weights = [np.reshape(w, (1,)) if np.size(w) == 1 else w for w in weights]
        self._set_params(weights, list(self.params))


class AdditiveAttention(AttentionBase):
    """Keras' additive attention (keras.layers.AdditiveAttention): e_ts = Σ_a s_a tanh(q_t +
    k_s)_a with the trainable `scale` s (Dk,) when use_scale, else s = 1. Queries and keys of
    one size (Keras projects nothing)."""

    config_keys = ("use_scale", "return_attention_scores")

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.use_scale = check_bool(use_scale, self.who, "use_scale")
        if dropout != 0.0:
            raise ValueError(f"{self.who}: attention dropout is not supported, got {dropout!r}")
        self.score = "keras_additive"

    def _param_shapes(self, dq, dk):
        return {"v": ((dk,), "glorot_uniform")} if self.use_scale else {}


ATTENTION_TYPES = {"bahdanau": BahdanauAttention, "luong": LuongAttention}
