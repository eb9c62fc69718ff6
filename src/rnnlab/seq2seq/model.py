"""Seq2Seq: an Encoder and a Decoder tied by a bridge, trained with masked sparse
cross-entropy, saved to and loaded from rnnlab's safetensors files.

Bridge (the decoder's initial states from the encoder's final states of its top layer, after
the last valid source token; bidirectional: forward and backward states):
    "dense"  s^l_0 = tanh(W_l [finals] + b_l) for every decoder layer l and state (h, c, ...)
    "copy"   s^l_0 = encoder layer l's final state (bidirectional: [→s ; ←s]); needs as many
             layers, the same states and decoder units = encoder state size × directions
    "zeros"  s^l_0 = 0

Training pass for source ids src (B, S) and targets tgt (B, T) (each row y_1 .. y_n EOS, then
PAD): the decoder reads [BOS, y_1, ..., y_{T−1}]; the loss is the mean over non-PAD target
positions of −log p(y_t | y_<t, x). One backward runs through decoder, bridge and encoder.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import config, initializers, native
from .._validation import check_choice, describe
from ..io import register_model_class, save_model
from ..layers.attention import outer_sum, quiet_underflow
from ..losses import SparseCategoricalCrossentropy
from .decoder import Decoder
from .encoder import Encoder

BRIDGES = ("dense", "copy", "zeros")


@register_model_class
class Seq2Seq:
    """Encoder–decoder with attention (module docstring).

    Arguments:
        encoder, decoder: an Encoder and an (unbuilt) Decoder of the same dtype.
        bridge: "dense" | "copy" | "zeros".
        pad_id, bos_id, eos_id: the special token ids (source and target vocabularies share
            them; rnnlab.seq2seq.Vocabulary puts PAD=0, BOS=1, EOS=2, OOV=3).
    Params are "encoder.<...>", "decoder.<...>" and "bridge.<l>.<state>.weight|bias".

    Example:
        >>> enc = Encoder(12, 16, 32, cell="gru", bidirectional=True)
        >>> dec = Decoder(12, 16, 32, cell="gru", attention="general")
        >>> model = Seq2Seq(enc, dec)
        >>> loss = model.train_step(src, tgt, rnnlab.optimizers.Adam(1e-2, global_clipnorm=5))
        >>> best = model.beam_search(src, beam_width=5)       # list of Hypothesis
    """

    def __init__(
        self,
        encoder: Encoder,
        decoder: Decoder,
        *,
        bridge: str = "dense",
        pad_id: int = 0,
        bos_id: int = 1,
        eos_id: int = 2,
        seed: int | None = None,
    ):
        if not isinstance(encoder, Encoder) or not isinstance(decoder, Decoder):
            raise TypeError(
                f"Seq2Seq: expected an Encoder and a Decoder, got {describe(encoder)} and "
                f"{describe(decoder)}"
            )
        if encoder.dtype != decoder.dtype:
            raise ValueError(
                f"Seq2Seq: encoder and decoder dtypes differ ({encoder.dtype} vs {decoder.dtype})"
            )
        check_choice(bridge, "Seq2Seq", "bridge", BRIDGES)
        ids = {"pad_id": pad_id, "bos_id": bos_id, "eos_id": eos_id}
        for key, value in ids.items():
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                raise TypeError(f"Seq2Seq: expected {key} to be an int, got {describe(value)}")
            for who, size in (("source", encoder.vocab_size), ("target", decoder.vocab_size)):
                if not 0 <= value < size:
                    raise ValueError(
                        f"Seq2Seq: {key}={value} lies outside the {who} vocabulary of {size} tokens"
                    )
        if len(set(ids.values())) != 3:
            raise ValueError(f"Seq2Seq: expected distinct special ids, got {ids}")
        self.encoder, self.decoder = encoder, decoder
        self.bridge, self.seed = bridge, seed
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        self.dtype = encoder.dtype
        if decoder.memory_size is None:
            decoder.build(encoder.memory_size)
        elif decoder.memory_size != encoder.memory_size:
            raise ValueError(
                f"Seq2Seq: decoder built for memory size {decoder.memory_size}, encoder gives "
                f"{encoder.memory_size}"
            )
        self._p: dict[str, np.ndarray] = {}
        self._g: dict[str, np.ndarray] = {}
        self._build_bridge()
        self.loss = SparseCategoricalCrossentropy(from_logits=True)
        self._cache: dict[str, Any] | None = None

    # -- bridge -----------------------------------------------------------------------------------
    def _build_bridge(self) -> None:
        enc, dec = self.encoder, self.decoder
        dirs = enc.directions
        if self.bridge == "copy":
            problems = []
            if enc.num_layers != dec.num_layers:
                problems.append(f"layers {enc.num_layers} vs {dec.num_layers}")
            if enc.state_names != dec.state_names:
                problems.append(f"states {enc.state_names} vs {dec.state_names}")
            if enc.state_size * dirs != dec.state_size:
                problems.append(
                    f"decoder state size {dec.state_size} != encoder {enc.state_size} × {dirs}"
                )
            if problems:
                raise ValueError(
                    "Seq2Seq: bridge='copy' needs matching encoder and decoder: "
                    + "; ".join(problems)
                    + " (use bridge='dense')"
                )
        elif self.bridge == "dense":
            F = len(enc.state_names) * dirs * enc.state_size
            rng = config.spawn_rng(self.seed)
            glorot = initializers.get("glorot_uniform", "Seq2Seq")
            for layer in range(dec.num_layers):
                for name in dec.state_names:
                    key = f"bridge.{layer}.{name}"
                    w = glorot((dec.state_size, F), rng, self.dtype)
                    self._p[f"{key}.weight"] = np.ascontiguousarray(w, dtype=self.dtype)
                    self._p[f"{key}.bias"] = np.zeros(dec.state_size, self.dtype)
            self._g = {k: np.zeros_like(v) for k, v in self._p.items()}

    def _bridge_forward(self, finals, B: int):
        enc, dec = self.encoder, self.decoder
        n = len(enc.state_names)
        if self.bridge == "zeros":
            return [
                tuple(np.zeros((B, dec.state_size), self.dtype) for _ in dec.state_names)
                for _ in range(dec.num_layers)
            ], None
        if self.bridge == "copy":
            out = []
            for states in finals:
                if enc.bidirectional:
                    out.append(
                        tuple(np.concatenate([states[k], states[n + k]], axis=-1) for k in range(n))
                    )
                else:
                    out.append(tuple(states))
            return out, None
        e = np.concatenate(finals[-1], axis=-1)  # (B, F)
        out = []
        for layer in range(dec.num_layers):
            out.append(
                tuple(
                    np.tanh(
                        native.matmul(e, self._p[f"bridge.{layer}.{name}.weight"].T)
                        + self._p[f"bridge.{layer}.{name}.bias"]
                    )
                    for name in dec.state_names
                )
            )
        return out, e

    def _bridge_backward(self, d_init, init, e):
        """∂L/∂(encoder finals) per encoder layer from ∂L/∂(decoder initial states)."""
        enc, dec = self.encoder, self.decoder
        n = len(enc.state_names)
        d_finals: list[list[np.ndarray | None]] = [
            [None] * (n * enc.directions) for _ in range(enc.num_layers)
        ]
        if self.bridge == "copy":
            for layer, ds in enumerate(d_init):
                for k in range(n):
                    if enc.bidirectional:
                        S = enc.state_size
                        d_finals[layer][k] = ds[k][:, :S]
                        d_finals[layer][n + k] = ds[k][:, S:]
                    else:
                        d_finals[layer][k] = ds[k]
        elif self.bridge == "dense":
            de = np.zeros_like(e)
            for layer in range(dec.num_layers):
                for k, name in enumerate(dec.state_names):
                    key = f"bridge.{layer}.{name}"
                    dz = d_init[layer][k] * (1.0 - init[layer][k] ** 2)  # (B, S_dec)
                    self._g[f"{key}.weight"] += outer_sum(dz, e)
                    self._g[f"{key}.bias"] += dz.sum(axis=0)
                    de += native.matmul(dz, self._p[f"{key}.weight"])
            S = enc.state_size
            d_finals[-1] = [de[:, i * S : (i + 1) * S] for i in range(n * enc.directions)]
        return d_finals

    # -- parameters and files ---------------------------------------------------------------------
    @property
    def params(self) -> dict[str, np.ndarray]:
        """Every parameter by name (the arrays themselves: edit in place)."""
        return {
            **{f"encoder.{k}": v for k, v in self.encoder.params.items()},
            **{f"decoder.{k}": v for k, v in self.decoder.params.items()},
            **self._p,
        }

    @property
    def grads(self) -> dict[str, np.ndarray]:
        return {
            **{f"encoder.{k}": v for k, v in self.encoder.grads.items()},
            **{f"decoder.{k}": v for k, v in self.decoder.grads.items()},
            **self._g,
        }

    def named_params(self) -> dict[str, np.ndarray]:
        return self.params

    def count_params(self) -> int:
        return int(sum(p.size for p in self.params.values()))

    def get_config(self) -> dict[str, Any]:
        return {
            "class_name": "Seq2Seq",
            "encoder": self.encoder.get_config(),
            "decoder": self.decoder.get_config(),
            "bridge": self.bridge,
            "pad_id": self.pad_id,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Seq2Seq:
        cfg = dict(cfg)
        cfg.pop("class_name", None)
        encoder = Encoder(**cfg.pop("encoder"))
        decoder = Decoder(**cfg.pop("decoder"))
        return cls(encoder, decoder, **cfg)

    def save(self, path) -> None:
        """One safetensors file (rnnlab.load_model reads it back)."""
        save_model(self, path)

    # -- checks -----------------------------------------------------------------------------------
    def _ids(self, ids, what: str, vocab: int, ndim: int = 2) -> np.ndarray:
        if isinstance(ids, (list, tuple)):
            ids = np.asarray(ids)
        if not isinstance(ids, np.ndarray) or ids.dtype.kind not in "iu" or ids.ndim != ndim:
            raise TypeError(
                f"Seq2Seq: expected {what} as integer token ids of shape (batch, length), "
                f"got {describe(ids)}"
            )
        if ids.shape[0] == 0 or ids.shape[1] == 0:
            raise ValueError(f"Seq2Seq: expected non-empty {what}, got shape {ids.shape}")
        if ids.min() < 0 or ids.max() >= vocab:
            bad = ids[(ids < 0) | (ids >= vocab)].ravel()[0]
            raise ValueError(
                f"Seq2Seq: {what} holds token id {bad}, outside its vocabulary of {vocab} "
                f"tokens (is it from another vocabulary?)"
            )
        return ids

    def source_mask(self, src: np.ndarray, src_mask=None) -> np.ndarray:
        """(B, S) bool: src_mask, or src != pad_id; every row needs a valid token."""
        mask = src != self.pad_id if src_mask is None else np.asarray(src_mask)
        if mask.dtype != np.bool_ or mask.shape != src.shape:
            raise ValueError(
                f"Seq2Seq: expected src_mask bool of shape {src.shape}, got {describe(mask)}"
            )
        empty = ~mask.any(axis=1)
        if empty.any():
            raise ValueError(
                f"Seq2Seq: source row {int(np.flatnonzero(empty)[0])} is empty (only padding); "
                f"every source needs at least one token"
            )
        return mask

    def encode(self, src, src_mask=None, training: bool = False):
        """memory (B, S, Hm), the source mask (B, S), and the decoder's initial states."""
        src = self._ids(src, "source", self.encoder.vocab_size)
        mask = self.source_mask(src, src_mask)
        memory, finals = self.encoder.forward(src, mask=mask, training=training)
        init, e = self._bridge_forward(finals, src.shape[0])
        return memory, mask, init, e

    # -- training ---------------------------------------------------------------------------------
    @quiet_underflow
    def forward(
        self, src, tgt, src_mask=None, sampling_probability: float = 0.0, training: bool = False
    ):
        """logits (B, T, V) and attention weights (B, T, S) (None without attention)."""
        tgt = self._ids(tgt, "target", self.decoder.vocab_size)
        src = self._ids(src, "source", self.encoder.vocab_size)
        if src.shape[0] != tgt.shape[0]:
            raise ValueError(
                f"Seq2Seq: source and target batches differ ({src.shape[0]} vs {tgt.shape[0]})"
            )
        memory, mask, init, e = self.encode(src, src_mask, training)
        y_in = np.concatenate(
            [np.full((tgt.shape[0], 1), self.bos_id, dtype=tgt.dtype), tgt[:, :-1]], axis=1
        )
        logits, weights = self.decoder.forward(y_in, memory, mask, init, sampling_probability)
        self._cache = {"init": init, "e": e}
        return logits, weights

    @quiet_underflow
    def backward(self, d_logits: np.ndarray) -> None:
        """Fill grads from ∂L/∂logits of the last forward."""
        if self._cache is None:
            raise RuntimeError("Seq2Seq: backward() called before forward()")
        for g in self._g.values():
            g[...] = 0.0
        d_memory, d_init = self.decoder.backward(d_logits)
        d_finals = self._bridge_backward(d_init, self._cache["init"], self._cache["e"])
        self.encoder.backward(d_memory, d_finals)

    def loss_and_grads(
        self, src, tgt, src_mask=None, sampling_probability: float = 0.0, training: bool = True
    ) -> float:
        """Mean cross-entropy over the non-PAD target positions; fills grads."""
        logits, _ = self.forward(src, tgt, src_mask, sampling_probability, training)
        tgt = np.asarray(tgt)
        loss, d_logits = self.loss.value_and_grad(tgt, logits, tgt != self.pad_id)
        self.backward(d_logits)
        return float(loss)

    def train_step(
        self, src, tgt, optimizer, src_mask=None, sampling_probability: float = 0.0
    ) -> float:
        """One optimizer step (clipping as the optimizer is configured); returns the loss."""
        loss = self.loss_and_grads(src, tgt, src_mask, sampling_probability)
        optimizer.step(self.params, self.grads)
        return loss

    @quiet_underflow
    def evaluate_loss(self, src, tgt, src_mask=None) -> float:
        with config.no_grad():
            logits, _ = self.forward(src, tgt, src_mask)
        tgt = np.asarray(tgt)
        return float(self.loss(tgt, logits, tgt != self.pad_id))

    # -- decoding ---------------------------------------------------------------------------------
    def greedy(self, src, src_mask=None, max_len: int = 50, return_attention: bool = False):
        from .search import greedy_decode

        return greedy_decode(
            self, src, src_mask, max_len=max_len, return_attention=return_attention
        )

    def beam_search(
        self,
        src,
        src_mask=None,
        beam_width: int = 5,
        max_len: int = 50,
        length_penalty: float = 0.6,
        return_attention: bool = False,
    ):
        from .search import beam_search

        return beam_search(
            self,
            src,
            src_mask,
            beam_width=beam_width,
            max_len=max_len,
            length_penalty=length_penalty,
            return_attention=return_attention,
        )
