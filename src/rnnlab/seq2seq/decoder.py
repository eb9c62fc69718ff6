"""The decoder: a stack of recurrent layers over the previous target token, with attention over
the encoder's memory and input feeding (Luong et al. 2015).

At output step t (y_0 = BOS; teacher forcing feeds the gold y_{t−1}, scheduled sampling
(Bengio et al. 2015) the model's own argmax with probability p per row and step):

    x_t = [E y_{t−1} ; h̃_{t−1}]        (input feeding; h̃_0 = 0)     else x_t = E y_{t−1}
    h_t = RNN_L(... RNN_1(x_t, s^1_{t−1}) ...)                        (B, H)
    c_t = Σ_s α_ts m_s,  α_t = softmax over valid s of score(h_t, m_s)  (rnnlab.layers.attention)
    h̃_t = tanh(W_c [c_t ; h_t])                  (attention)          else h̃_t = h_t
    logits_t = W_o h̃_t + b_o                                          (B, V)

score is Bahdanau's additive one, or Luong's dot or general one; in every case the query is the
current top state h_t (Luong's placement; Bahdanau's paper queries s_{t−1}: the additive score
here is the "mlp" global attention of OpenNMT).

Speed: without input feeding and without scheduled sampling, nothing ties step t's input to
step t−1's output, so each layer runs over the whole target sequence in one call (the cell's
fused sequence kernels) and the attention for all T queries is one batched matmul. With input
feeding (or sampling) the decoder loops over steps, each layer called with T = 1 and carried
states; the caches of every step are kept for the exact backward through time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import config, initializers, native
from .._validation import check_bool, check_choice, check_positive_int, check_rate
from ..cells import get_cell
from ..layers import Embedding, layer_for_cell
from ..layers.attention import BahdanauAttention, LuongAttention, outer_sum

ATTENTIONS = ("bahdanau", "dot", "general", None)


class Decoder:
    """Embedding + `num_layers` recurrent layers of `cell` + attention + output projection.

    Arguments:
        vocab_size, embed_dim, units: target vocabulary V, embedding size E, layer size H.
        cell, num_layers: the recurrent family and depth (extra keywords: the cell's options).
        attention: "bahdanau" | "dot" | "general" | None.
        attention_units: the additive score's hidden size (default units).
        input_feeding: feed h̃_{t−1} into the first layer (only with attention).
    build(memory_size) creates the parameters (Seq2Seq calls it with the encoder's size).
    Params: "embedding.weight", "rnn<l>.<param>", "attention.<param>", "combine.weight"
    (H, Hm + H), "output.weight" (V, H), "output.bias" (V).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int,
        units: int,
        *,
        cell: Any = "lstm",
        num_layers: int = 1,
        attention: str | None = "general",
        attention_units: int | None = None,
        input_feeding: bool = True,
        dtype=None,
        seed: int | None = None,
        **cell_options: Any,
    ):
        who = "Decoder"
        self.vocab_size = check_positive_int(vocab_size, who, "vocab_size")
        self.embed_dim = check_positive_int(embed_dim, who, "embed_dim")
        self.units = check_positive_int(units, who, "units")
        self.num_layers = check_positive_int(num_layers, who, "num_layers")
        check_choice(attention, who, "attention", ATTENTIONS)
        self.attention_name = attention
        self.attention_units = check_positive_int(
            units if attention_units is None else attention_units, who, "attention_units"
        )
        self.input_feeding = check_bool(input_feeding, who, "input_feeding") and bool(attention)
        self.cell_name = get_cell(cell).name
        self.cell_options = dict(cell_options)
        self.dtype = config.resolve_dtype(dtype, who)
        self.seed = seed
        self.rng = config.spawn_rng(seed)  # scheduled sampling draws
        self.memory_size: int | None = None
        self.layers: list = []
        self.attention = None
        self._p: dict[str, np.ndarray] = {}
        self._g: dict[str, np.ndarray] = {}
        self._cache: dict[str, Any] | None = None

    # -- parameters -------------------------------------------------------------------------------
    def build(self, memory_size: int) -> None:
        self.memory_size = check_positive_int(memory_size, "Decoder", "memory_size")
        seeds = [
            int(s) for s in config.spawn_rng(self.seed).integers(0, 2**31, size=8 + self.num_layers)
        ]
        self.embedding = Embedding(self.vocab_size, self.embed_dim, dtype=self.dtype, seed=seeds[0])
        self.embedding.build((None,))
        layer_cls = layer_for_cell(self.cell_name)
        H = self.units
        size = self.embed_dim + (H if self.input_feeding else 0)
        self.layers = []
        for index in range(self.num_layers):
            layer = layer_cls(
                H,
                return_sequences=True,
                dtype=self.dtype,
                seed=seeds[index + 1],
                **self.cell_options,
            )
            layer.build((None, size))
            self.layers.append(layer)
            size = layer.output_size
        self.output_size = size  # what the top layer emits (the attention query)
        rng = np.random.default_rng(seeds[-1])
        glorot = initializers.get("glorot_uniform", "Decoder")
        if self.attention_name is not None:
            kw = {"dtype": self.dtype, "seed": seeds[-2]}
            self.attention = (
                BahdanauAttention(self.attention_units, **kw)
                if self.attention_name == "bahdanau"
                else LuongAttention(self.attention_name, **kw)
            )
            self.attention.build_for(size, memory_size)
            self._add("combine.weight", glorot((H, memory_size + size), rng, self.dtype))
            out_in = H
        else:
            out_in = size
        self._add("output.weight", glorot((self.vocab_size, out_in), rng, self.dtype))
        self._add("output.bias", np.zeros(self.vocab_size, self.dtype))

    def _add(self, key: str, value: np.ndarray) -> None:
        self._p[key] = np.ascontiguousarray(value, dtype=self.dtype)
        self._g[key] = np.zeros_like(self._p[key])

    @property
    def state_names(self) -> tuple[str, ...]:
        return self.layers[0].state_names

    @property
    def state_size(self) -> int:
        return self.layers[0].state_size

    def get_config(self) -> dict[str, Any]:
        return {
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
            "cell": self.cell_name,
            "num_layers": self.num_layers,
            "attention": self.attention_name,
            "attention_units": self.attention_units,
            "input_feeding": self.input_feeding,
            "dtype": self.dtype.name,
            "seed": self.seed,
            **self.cell_options,
        }

    def _collect(self, which: str) -> dict[str, np.ndarray]:
        out = {"embedding.weight": getattr(self.embedding, which)["weight"]}
        for index, layer in enumerate(self.layers):
            out.update({f"rnn{index}.{k}": v for k, v in getattr(layer, which).items()})
        if self.attention is not None:
            out.update({f"attention.{k}": v for k, v in getattr(self.attention, which).items()})
        out.update(self._p if which == "params" else self._g)
        return out

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self._collect("params")

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return self._collect("grads")

    # -- the part after the recurrent stack: attention, combine, output ---------------------------
    def _post(self, h, k_proj, memory, mask):
        """logits (B, T, V), h̃ (B, T, ·), weights (B, T, S) or None, cache; h (B, T, Ho)."""
        p = self._p
        if self.attention is None:
            return native.matmul(h, p["output.weight"].T) + p["output.bias"], h, None, {"h": h}
        ctx, w, att = self.attention.attend(h, k_proj, memory, mask)  # (B, T, Hm), (B, T, S)
        cat = np.concatenate([ctx, h], axis=-1)  # (B, T, Hm + Ho)
        ht = np.tanh(native.matmul(cat, p["combine.weight"].T))  # (B, T, H)
        logits = native.matmul(ht, p["output.weight"].T) + p["output.bias"]  # (B, T, V)
        return logits, ht, w, {"h": h, "cat": cat, "ht": ht, "att": att}

    def _post_backward(self, cache, d_logits, d_ht_extra=None):
        """(dh, d_k_proj, d_memory) from ∂L/∂logits (+ ∂L/∂h̃ from input feeding)."""
        p, g = self._p, self._g
        ht = cache.get("ht", cache["h"])
        g["output.weight"] += outer_sum(d_logits, ht)
        g["output.bias"] += d_logits.sum(axis=(0, 1))
        d_ht = native.matmul(d_logits, p["output.weight"])  # (B, T, H)
        if d_ht_extra is not None:
            d_ht = d_ht + d_ht_extra
        if self.attention is None:
            return d_ht, None, None
        dz = d_ht * (1.0 - ht * ht)
        g["combine.weight"] += outer_sum(dz, cache["cat"])
        d_cat = native.matmul(dz, p["combine.weight"])  # (B, T, Hm + Ho)
        Hm = self.memory_size
        dq, dk, dmem = self.attention.attend_backward(cache["att"], d_cat[..., :Hm])
        return d_cat[..., Hm:] + dq, dk, dmem

    # -- teacher-forced training pass -------------------------------------------------------------
    def forward(
        self,
        y_in: np.ndarray,
        memory: np.ndarray,
        mask: np.ndarray | None,
        init_states: list[tuple[np.ndarray, ...]],
        sampling_probability: float = 0.0,
    ):
        """logits (B, T, V) for decoder inputs y_in (B, T) (BOS, y_1, ..., y_{T−1}) and the
        attention weights (B, T, S) (None without attention)."""
        if self.memory_size is None:
            raise RuntimeError("Decoder: call build(memory_size) first (Seq2Seq does)")
        p_s = check_rate(sampling_probability, "Decoder", "sampling_probability")
        B, T = y_in.shape
        k_proj = None if self.attention is None else self.attention.project_keys(memory)
        cache: dict[str, Any] = {"memory": memory, "y_in": y_in, "B": B, "T": T}
        if not (self.input_feeding or p_s > 0):  # whole sequences per layer
            x = self.embedding.params["weight"][y_in]  # (B, T, E)
            caches = []
            for layer, states in zip(self.layers, init_states, strict=True):
                x, _, c = layer.cell.forward(layer.params, x, tuple(states), layout="batch")
                caches.append(c)
            logits, _, w, post = self._post(x, k_proj, memory, mask)
            cache.update(mode="sequence", caches=caches, post=post, tokens=y_in)
            self._cache = cache
            return logits, w
        E = self.embedding.params["weight"]
        states = [tuple(s) for s in init_states]
        ht = np.zeros((B, self.units), self.dtype)
        steps, all_logits, all_w, tokens = [], [], [], []
        for t in range(T):
            tok = y_in[:, t]
            if t > 0 and p_s > 0:
                own = all_logits[-1][:, 0].argmax(axis=-1)
                tok = np.where(self.rng.random(B) < p_s, own, tok)
            tokens.append(tok)
            x = E[tok][:, None, :]  # (B, 1, E)
            if self.input_feeding:
                x = np.concatenate([x, ht[:, None, :]], axis=-1)  # (B, 1, E + H)
            step_caches = []
            for index, layer in enumerate(self.layers):
                x, finals, c = layer.cell.forward(layer.params, x, states[index], layout="batch")
                states[index] = finals
                step_caches.append(c)
            logits, ht_seq, w, post = self._post(x, k_proj, memory, mask)
            ht = ht_seq[:, 0]
            steps.append((step_caches, post))
            all_logits.append(logits)
            all_w.append(w)
        cache.update(mode="steps", steps=steps, tokens=np.stack(tokens, axis=1))
        self._cache = cache
        weights = None if self.attention is None else np.concatenate(all_w, axis=1)
        return np.concatenate(all_logits, axis=1), weights

    def backward(self, d_logits: np.ndarray):
        """Fill grads from ∂L/∂logits (B, T, V); return (∂L/∂memory, ∂L/∂init_states)."""
        cache = self._cache
        if cache is None:
            raise RuntimeError("Decoder: backward() called before forward()")
        for g in self.grads.values():
            g[...] = 0.0
        memory = cache["memory"]
        n_states = len(self.state_names)
        d_emb = np.zeros((*cache["tokens"].shape, self.embed_dim), self.dtype)
        if cache["mode"] == "sequence":
            dx, dk, d_memory = self._post_backward(cache["post"], d_logits)
            d_init = [None] * self.num_layers
            for index in reversed(range(self.num_layers)):
                layer = self.layers[index]
                dx, d_initial, grads = layer.cell.backward(
                    cache["caches"][index], dx, (None,) * n_states
                )
                for key, value in grads.items():
                    layer.grads[key] += value
                d_init[index] = list(d_initial)
            d_emb = dx
        else:
            E = self.embed_dim
            d_states: list = [(None,) * n_states for _ in self.layers]
            d_ht = None
            dk = d_memory = None
            for t in reversed(range(cache["T"])):
                step_caches, post = cache["steps"][t]
                dx, dk_t, dm_t = self._post_backward(post, d_logits[:, t : t + 1], d_ht)
                if dk_t is not None:
                    dk = dk_t if dk is None else dk + dk_t
                    d_memory = dm_t if d_memory is None else d_memory + dm_t
                for index in reversed(range(self.num_layers)):
                    layer = self.layers[index]
                    dx, d_initial, grads = layer.cell.backward(
                        step_caches[index], dx, d_states[index]
                    )
                    for key, value in grads.items():
                        layer.grads[key] += value
                    d_states[index] = d_initial
                d_emb[:, t] = dx[:, 0, :E]
                d_ht = dx[:, :, E:] if self.input_feeding else None
            d_init = [list(d) for d in d_states]
        tokens = cache["tokens"].ravel()
        np.add.at(self.embedding.grads["weight"], tokens, d_emb.reshape(tokens.size, -1))
        if self.attention is not None:
            d_memory = d_memory + self.attention.project_keys_backward(memory, dk)
        else:
            d_memory = np.zeros_like(memory)
        B = cache["B"]
        d_init = [
            [np.zeros((B, self.state_size), self.dtype) if d is None else d for d in ds]
            for ds in d_init
        ]
        return d_memory, d_init

    # -- inference, one step at a time (greedy and beam search) -----------------------------------
    def start(self, memory, mask, init_states) -> dict[str, Any]:
        """The decoding state before the first step."""
        B = memory.shape[0]
        return {
            "states": [tuple(s) for s in init_states],
            "ht": np.zeros((B, self.units), self.dtype),
            "memory": memory,
            "mask": mask,
            "k_proj": None if self.attention is None else self.attention.project_keys(memory),
        }

    def step(self, tokens: np.ndarray, state: dict[str, Any]):
        """log-probabilities (N, V), the next state and the attention weights (N, S) or None
        for the previous tokens (N,)."""
        x = self.embedding.params["weight"][tokens][:, None, :]  # (N, 1, E)
        if self.input_feeding:
            x = np.concatenate([x, state["ht"][:, None, :]], axis=-1)
        states = []
        for layer, s in zip(self.layers, state["states"], strict=True):
            x, finals, _ = layer.cell.forward(layer.params, x, s, keep_cache=False, layout="batch")
            states.append(finals)
        logits, ht, w, _ = self._post(x, state["k_proj"], state["memory"], state["mask"])
        logits = logits[:, 0]
        z = logits - logits.max(axis=-1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
        new = dict(state, states=states, ht=ht[:, 0])
        return log_p, new, None if w is None else w[:, 0]


def reorder_state(state: dict[str, Any], index: np.ndarray) -> dict[str, Any]:
    """The decoding state of rows `index` (beam search's gather)."""

    def take(a):
        return None if a is None else a[index]

    return {
        "states": [tuple(s[index] for s in layer) for layer in state["states"]],
        "ht": state["ht"][index],
        "memory": state["memory"][index],
        "mask": take(state["mask"]),
        "k_proj": take(state["k_proj"]),
    }
