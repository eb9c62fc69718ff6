"""Character-level language models: build, train by TBPTT with checkpoints, resume.

The model is  Embedding(V, E) → [LSTM|GRU|SimpleRNN](H) × L → Dense(V)  trained on next-character
prediction with softmax cross-entropy (nats per character) and Adam with global-norm clipping,
as in Karpathy's char-rnn. Checkpoints (one safetensors file) hold the weights, the optimizer
state, the carried hidden states, every RNG state, the data position and the run's settings, so
`resume` continues to bit-identical weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io, losses, optimizers
from ..layers import GRU, LSTM, Dense, Embedding, SimpleRNN
from ..model import Sequential
from .streams import Streams, make_streams
from .tbptt import TBPTTTrainer

CELLS = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}
CHECKPOINT_NAME = "checkpoint.safetensors"


@dataclass
class CharLMSettings:
    """Sizes and training settings of a character-level model run."""

    cell: str = "lstm"
    units: int = 256
    layers: int = 1
    embedding: int = 64
    dropout: float = 0.0
    batch_size: int = 32
    k1: int = 64
    k2: int | None = None
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    segment_length: int | None = 4096
    seed: int = 0

    def validate(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"expected cell in {sorted(CELLS)}, got {self.cell!r}")
        for name in ("units", "layers", "embedding", "batch_size", "k1"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"expected {name} to be a positive int, got {value!r}")
        if self.k2 is not None and (not isinstance(self.k2, int) or self.k2 < self.k1):
            raise ValueError(f"expected k2 ≥ k1 = {self.k1}, got {self.k2!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"expected dropout in [0, 1), got {self.dropout!r}")
        if not self.learning_rate > 0:
            raise ValueError(f"expected a positive learning rate, got {self.learning_rate!r}")
        if self.segment_length is not None and (not isinstance(self.segment_length, int)
                                                or self.segment_length < self.k1):
            raise ValueError(f"expected segment_length ≥ k1 = {self.k1} or None, "
                             f"got {self.segment_length!r}")
        if not self.clipnorm > 0:
            raise ValueError(f"expected a positive clipnorm, got {self.clipnorm!r}")


def build_model(vocab_size: int, s: CharLMSettings) -> Sequential:
    """A compiled char-level model for a vocabulary of `vocab_size` characters."""
    s.validate()
    rnn = CELLS[s.cell]
    layers: list = [Embedding(vocab_size, s.embedding, embeddings_initializer="normal",
                              name="embedding", seed=s.seed)]
    for i in range(s.layers):
        layers.append(rnn(s.units, return_sequences=True, name=f"{s.cell}_{i}",
                          dropout=s.dropout if i else 0.0, seed=s.seed + 1 + i))
    layers.append(Dense(vocab_size, name="logits", seed=s.seed + 100))
    model = Sequential(layers, name="char_lm", seed=s.seed)
    model.build((None,))
    model.compile(optimizer=optimizers.Adam(learning_rate=s.learning_rate,
                                            global_clipnorm=s.clipnorm),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    return model


def streams_for(documents: list[str], vocab, n_streams: int, k1: int,
                segment_length: int | None = None) -> Streams:
    return make_streams([vocab.encode(doc) for doc in documents], n_streams, k1, segment_length)


def save_checkpoint(trainer: TBPTTTrainer, directory: Path, settings: CharLMSettings,
                    extra: dict[str, Any] | None = None) -> Path:
    """Write <directory>/checkpoint.safetensors atomically; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors, state = trainer.state()
    state["settings"] = dataclasses.asdict(settings)
    state["model_config"] = trainer.model.get_config()
    state["extra"] = extra or {}
    path = directory / CHECKPOINT_NAME
    io.save_checkpoint(path, tensors, state)
    return path


def load_checkpoint(directory: Path) -> tuple[TBPTTTrainer, CharLMSettings, dict[str, Any]]:
    """Rebuild model, optimizer and trainer from <directory>/checkpoint.safetensors."""
    path = Path(directory) / CHECKPOINT_NAME
    tensors, state = io.load_checkpoint(path)
    try:
        settings = CharLMSettings(**state["settings"])
        model = Sequential.from_config(state["model_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise io.FormatError(f"{path}: not a character-model checkpoint ({err})") from None
    model.compile(optimizer=optimizers.Adam(learning_rate=settings.learning_rate,
                                            global_clipnorm=settings.clipnorm),
                  loss=losses.SparseCategoricalCrossentropy(from_logits=True))
    trainer = TBPTTTrainer(model, settings.k1, settings.k2)
    trainer.load_state(tensors, state)
    return trainer, settings, state.get("extra", {})


def evaluation_streams(documents: list[str], vocab, n_streams: int = 32,
                       k1: int = 256) -> Streams:
    """Validation streams: long windows, state carried across them, every character scored."""
    n_streams = max(1, min(n_streams, sum(max(len(d) - 1, 0) for d in documents)))
    return streams_for(documents, vocab, n_streams, k1)


def model_vocab(model: Sequential):
    """The CharVocab saved in a text model's metadata."""
    from ..datasets import CharVocab

    if "vocab" not in model.metadata:
        raise ValueError("this model has no character vocabulary in its metadata; it was not "
                         "trained as a text model by rnnlab")
    return CharVocab.from_config(model.metadata["vocab"])


__all__ = ["CELLS", "CharLMSettings", "build_model", "evaluation_streams", "load_checkpoint",
           "model_vocab", "save_checkpoint", "streams_for"]
