"""Character-level language models: the recipe that `rnnlab train`, `rnnlab demo`, the explorer
and the examples share, and its parts (build, streams, checkpoints).

The model is  Embedding(V, E) → Recurrent(H) × L → Dense(V)  trained on next-character
prediction with softmax cross-entropy (nats per character) and Adam with global-norm clipping,
as in Karpathy's char-rnn, by TBPTT(k1, k2) over B parallel streams (`rnnlab.training.tbptt`).
The recurrent layers are those of a cell family (`settings.cell`, a class of
`rnnlab.cells.CELLS`: LSTMCell by default; GRUCell, SimpleRNNCell, or a family of your own whose
layer takes `units` alone, see `char_lm_cells`). Files store the family's registry name.

    >>> corpus = rnnlab.datasets.load_shakespeare()
    >>> run = train_char_lm(corpus, CharLMSettings(units=256), seconds=300, log=print)
    >>> run.val_loss, run.model.save("model.safetensors")      # the vocabulary is in metadata

Checkpoints (one safetensors file) hold the weights, the optimizer state, the carried hidden
states, every RNG state, the data position and the run's settings, so `resume` continues to
bit-identical weights.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import io, losses, optimizers
from ..cells import Cell, LSTMCell, get_cell
from ..datasets import CharVocab, TextCorpus
from ..layers import Dense, Embedding, cells_by_units, layer_for_cell
from ..model import Sequential
from .streams import Streams, make_streams
from .tbptt import Progress, TBPTTTrainer

CHECKPOINT_NAME = "checkpoint.safetensors"
#: validation read while training (the probe) or at the end from a head of the split: 8 streams;
#: the whole validation split at the end: 32 streams
PROBE_STREAMS = 8


def char_lm_cells() -> dict[str, type[Cell]]:
    """The registered cell families a char model can stack, by name: those whose layer needs
    nothing but `units` (rnnlab.layers.cells_by_units)."""
    return cells_by_units()


@dataclass
class CharLMSettings:
    """Sizes and training settings of a character-level model run.

    `cell` is a cell family's class (`rnnlab.cells.LSTMCell`, ...); a registry name ("lstm",
    "gru", "rnn") given here is resolved to its class once, on construction. `to_config()` and
    `from_config()` write and read the JSON form, which holds the name.
    """

    cell: type[Cell] = LSTMCell
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

    def __post_init__(self) -> None:
        if isinstance(self.cell, str):
            self.cell = get_cell(self.cell)

    def to_config(self) -> dict[str, Any]:
        """The settings as JSON values (the cell as its registry name)."""
        config = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        config["cell"] = self.cell.name
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CharLMSettings:
        """Settings from to_config()'s dict (TypeError for unknown keys)."""
        return cls(**config)

    def validate(self) -> None:
        families = char_lm_cells()
        if self.cell not in families.values():
            raise ValueError(
                f"expected cell to be a cell family whose layer takes units alone, one of "
                f"{list(families)}, got {self.cell!r}"
            )
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
        if self.segment_length is not None and (
            not isinstance(self.segment_length, int) or self.segment_length < self.k1
        ):
            raise ValueError(
                f"expected segment_length ≥ k1 = {self.k1} or None, got {self.segment_length!r}"
            )
        if not self.clipnorm > 0:
            raise ValueError(f"expected a positive clipnorm, got {self.clipnorm!r}")


def build_model(vocab_size: int, s: CharLMSettings) -> Sequential:
    """A compiled char-level model for a vocabulary of `vocab_size` characters."""
    s.validate()
    rnn = layer_for_cell(s.cell)
    layers: list = [
        Embedding(
            vocab_size, s.embedding, embeddings_initializer="normal", name="embedding", seed=s.seed
        )
    ]
    for i in range(s.layers):
        layers.append(
            rnn(
                s.units,
                return_sequences=True,
                name=f"{s.cell.name}_{i}",
                dropout=s.dropout if i else 0.0,
                seed=s.seed + 1 + i,
            )
        )
    layers.append(Dense(vocab_size, name="logits", seed=s.seed + 100))
    model = Sequential(layers, name="char_lm", seed=s.seed)
    model.build((None,))
    model.compile(
        optimizer=optimizers.Adam(learning_rate=s.learning_rate, global_clipnorm=s.clipnorm),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def streams_for(
    documents: list[str], vocab, n_streams: int, k1: int, segment_length: int | None = None
) -> Streams:
    return make_streams([vocab.encode(doc) for doc in documents], n_streams, k1, segment_length)


def save_checkpoint(
    trainer: TBPTTTrainer,
    directory: Path,
    settings: CharLMSettings,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write <directory>/checkpoint.safetensors atomically; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    tensors, state = trainer.state()
    state["settings"] = settings.to_config()
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
        settings = CharLMSettings.from_config(state["settings"])
        model = Sequential.from_config(state["model_config"])
    except (KeyError, TypeError, ValueError) as err:
        raise io.FormatError(f"{path}: not a character-model checkpoint ({err})") from None
    model.compile(
        optimizer=optimizers.Adam(
            learning_rate=settings.learning_rate, global_clipnorm=settings.clipnorm
        ),
        loss=losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    trainer = TBPTTTrainer(model, settings.k1, settings.k2)
    trainer.load_state(tensors, state)
    return trainer, settings, state.get("extra", {})


def evaluation_streams(documents: list[str], vocab, n_streams: int = 32, k1: int = 256) -> Streams:
    """Validation streams: long windows, state carried across them, every character scored."""
    n_streams = max(1, min(n_streams, sum(max(len(d) - 1, 0) for d in documents)))
    return streams_for(documents, vocab, n_streams, k1)


def model_vocab(model: Sequential, who: str = "model_vocab") -> CharVocab:
    """The CharVocab saved in a text model's metadata; ValueError if it has none."""
    vocab = model.metadata.get("vocab") if isinstance(model.metadata, dict) else None
    if vocab is None:
        raise ValueError(
            f"{who}: the model has no character vocabulary in its metadata "
            f"(expected a model trained by `rnnlab train`, `rnnlab demo` or the "
            f"explorer)"
        )
    return CharVocab.from_config(vocab)


def head(documents: list[str], n_chars: int) -> list[str]:
    """The first `n_chars` characters of the documents, as documents (the last one cut)."""
    out, total = [], 0
    for d in documents:
        out.append(d[: n_chars - total])
        total += len(out[-1])
        if total >= n_chars:
            break
    return out


# -- the recipe ------------------------------------------------------------------------------------
@dataclass
class CharLMRun:
    """A finished train_char_lm run: the model (its metadata holds the vocabulary, the data
    source, the settings, the validation loss and the characters trained on), its vocabulary,
    the trainer (whose `progress` has the steps, tokens, seconds and validation history), the
    settings and the final validation loss in nats per character."""

    model: Sequential
    vocab: CharVocab
    trainer: TBPTTTrainer
    settings: CharLMSettings
    val_loss: float

    @property
    def progress(self) -> Progress:
        return self.trainer.progress


def train_char_lm(
    corpus: TextCorpus,
    settings: CharLMSettings | None = None,
    *,
    epochs: int | None = None,
    seconds: float | None = None,
    max_steps: int | None = None,
    source: str | None = None,
    vocab: CharVocab | None = None,
    eval_every: int | None = 200,
    probe_chars: int | None = 60_000,
    final_chars: int | None = None,
    checkpoint_dir: str | Path | None = None,
    checkpoint_every: int = 100,
    resume: bool = False,
    on_progress: Callable[[Progress, int], Any] | None = None,
    log: Callable[[str], Any] | None = None,
) -> CharLMRun:
    """Train a character model on `corpus` by TBPTT and evaluate it on the validation split.

    Arguments:
        corpus: a TextCorpus (`rnnlab.datasets.load_shakespeare()`, `text_file_corpus(path)`).
        settings: model sizes and training settings (default CharLMSettings()).
        epochs, seconds, max_steps: stop after that many passes, seconds of training or
            updates, whichever comes first; at least one must be given.
        source: the data's name, saved in the model's metadata ("dataset"; default
            corpus.name).
        vocab: the characters (default: every character of the corpus).
        eval_every, probe_chars: every `eval_every` updates (and at each epoch's end) the loss
            on the first `probe_chars` validation characters goes into progress.history;
            None or 0 for either: no history.
        final_chars: the final validation loss reads this many characters of the validation
            split (None: all of it).
        checkpoint_dir, checkpoint_every, resume: write a resumable checkpoint there every
            `checkpoint_every` updates and at the end; with resume=True, continue from it when
            it exists (the checkpoint's settings and vocabulary then apply).
        on_progress: called after every update with the trainer's Progress and the number of
            updates per epoch (for progress bars).
        log: called with one line per stage (data, model, training, evaluation); None: silent.

    Returns a CharLMRun. Raises ValueError for bad settings or a corpus too small for the
    streams, rnnlab.NonFiniteError if training diverges, RuntimeError if the final validation
    loss is not finite.
    """
    say = log if log is not None else (lambda line: None)
    if epochs is None and seconds is None and max_steps is None:
        raise ValueError("train_char_lm: expected epochs, seconds or max_steps (a limit), got none")
    if resume and checkpoint_dir is None:
        raise ValueError("train_char_lm: resume=True needs a checkpoint_dir")
    if not isinstance(corpus, TextCorpus):
        raise TypeError(f"train_char_lm: expected a TextCorpus, got {type(corpus).__name__}")
    source = corpus.name if source is None else source
    train_docs = [d.text for d in corpus.train]
    val_docs = [d.text for d in corpus.validation]
    checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
    if resume and (checkpoint_dir / CHECKPOINT_NAME).exists():
        trainer, settings, extra = load_checkpoint(checkpoint_dir)
        vocab = CharVocab.from_config(extra["vocab"])
        say(f"resuming from {checkpoint_dir / CHECKPOINT_NAME} at step {trainer.progress.steps}")
    else:
        settings = CharLMSettings() if settings is None else settings
        if vocab is None:
            vocab = CharVocab.from_text("".join(train_docs) + "".join(val_docs))
        trainer = TBPTTTrainer(build_model(len(vocab), settings), settings.k1, settings.k2)
    model = trainer.model
    model.metadata = {
        "vocab": vocab.to_config(),
        "dataset": source,
        "settings": settings.to_config(),
    }
    train_streams = streams_for(
        train_docs, vocab, settings.batch_size, settings.k1, settings.segment_length
    )
    if final_chars is None:
        val_streams = evaluation_streams(val_docs, vocab)
    else:
        val_streams = evaluation_streams(
            head(val_docs, final_chars), vocab, n_streams=PROBE_STREAMS
        )
    probe = None
    if eval_every and probe_chars:
        probe = evaluation_streams(head(val_docs, probe_chars), vocab, n_streams=PROBE_STREAMS)
    say(
        f"data: {source}, {train_streams.n_tokens:,} training and "
        f"{val_streams.n_tokens:,} validation characters, vocabulary {len(vocab)}"
    )
    say(
        f"model: {model.count_params():,} parameters "
        f"({settings.cell.name.upper()} {settings.units} × {settings.layers})"
    )

    def checkpoint(tr: TBPTTTrainer) -> None:
        save_checkpoint(tr, checkpoint_dir, settings, {"vocab": vocab.to_config()})

    trainer.fit(
        train_streams,
        epochs=epochs,
        max_seconds=seconds,
        max_steps=max_steps,
        validation=probe,
        eval_every=eval_every,
        on_step=None
        if on_progress is None
        else (lambda tr, loss: on_progress(tr.progress, train_streams.n_windows)),
        checkpoint=checkpoint if checkpoint_dir else None,
        checkpoint_every=checkpoint_every,
    )
    if checkpoint_dir:
        checkpoint(trainer)
    prog = trainer.progress
    say(
        f"trained {prog.steps:,} steps, {prog.tokens:,} characters in "
        f"{prog.seconds:.0f} s ({prog.tokens / max(prog.seconds, 1e-9):,.0f} chars/s)"
    )
    t0 = time.perf_counter()
    val_loss = trainer.evaluate(val_streams)
    say(
        f"evaluated {val_streams.n_tokens:,} validation characters in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    if not math.isfinite(val_loss):
        raise RuntimeError("train_char_lm: the validation loss is not finite")
    model.metadata["validation_loss"] = round(val_loss, 4)
    model.metadata["trained_chars"] = prog.tokens
    return CharLMRun(model, vocab, trainer, settings, val_loss)


__all__ = [
    "CHECKPOINT_NAME",
    "CharLMRun",
    "CharLMSettings",
    "build_model",
    "char_lm_cells",
    "evaluation_streams",
    "head",
    "load_checkpoint",
    "model_vocab",
    "save_checkpoint",
    "streams_for",
    "train_char_lm",
]
