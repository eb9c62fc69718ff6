"""Train a Seq2Seq on (source tokens, target tokens) pairs within a time budget, resumably, and
decode whole test sets with it. Shared by the `translate` and `g2p` tasks; nothing here knows
about languages or phonemes: sources and targets are lists of string tokens, each side with
its own `rnnlab.seq2seq.Vocabulary` (PAD 0, BOS 1, EOS 2, OOV 3).

    from rnnlab.seq2seq import Vocabulary
    from rnnlab.tasks.seq2seq_train import Seq2SeqSettings, Seq2SeqTrainer, decode
    src_vocab = Vocabulary.build(train_src)              # train_src: list[list[str]]
    tgt_vocab = Vocabulary.build(train_tgt)
    trainer = Seq2SeqTrainer("g2p", Seq2SeqSettings(cell="lstm", units=256),
                             src_vocab, tgt_vocab, (train_src, train_tgt), (val_src, val_tgt))
    trainer.fit(Budget(600), progress=ProgressLine(...), checkpoint=out / "checkpoint.safetensors")
    model = trainer.best_model()                          # the weights of the best val loss
    hyps = decode(model, src_vocab, tgt_vocab, test_src, beam_width=5, return_attention=True)
    save_model_dir(out, "g2p", model, src_vocab, tgt_vocab)  # seq2seq_files: model + model.json
    model, src_vocab, tgt_vocab, meta = load_model_dir(out, "g2p")

Training. Sources are encoded with EOS appended (an end marker the attention can use), targets
with EOS. Each epoch e orders the pairs by a generator seeded with (seed, e): a permutation,
cut into chunks of 32 batches, each chunk sorted by source length and cut into batches
(length-bucketed: little padding), the batches of the epoch shuffled. The data position is
(epoch, batch index), so a checkpoint names exactly the next batch. Adam with a global clip
norm; every `validate_every` steps the token-weighted mean cross-entropy on the validation
pairs; the weights of the lowest validation loss are kept; after `patience` validations
without improvement the learning rate is halved (`lr_decay`). The steps of the schedule are
counted in optimizer steps, never in seconds, so a resumed run makes the same choices.

With `output_bias_prior`, the output bias starts at the log-frequencies of the target tokens
(`log_prior`): the model starts at the unigram loss. Without it, on Tatoeba eng-fra (4,000
target words) the attention decoder reached the unigram loss within 20 Adam steps by driving
h̃ = tanh(W_c [c_t ; h_t]) into saturation (|h̃| > 0.99 everywhere: a constant vector that W_o
turns into the missing bias), after which no gradient reached the recurrent layers and the loss
stayed at 4.71 on one batch of 32 pairs; with it, the same batch is fitted to 0.02 in 200 steps
(docs/seq2seq.md, "Translation").

Checkpoint (`checkpoint=` path, written atomically every `checkpoint_every` seconds, at the
end, and when the run is interrupted by KeyboardInterrupt): the weights, the best weights
("best/<param>"), Adam's moments and step count ("optimizer/<slot>/<param>"), the decoder's
sampling generator, the data position, the running loss, the history, the seconds spent, the
learning rate, both vocabularies, the settings and the task name. `Seq2SeqTrainer.resume`
refuses a checkpoint of another task or whose vocabularies differ from the ones given, saying
which; resumed training takes the same steps as an uninterrupted run (bit-identical weights and
learning rates). The one difference: a run that stopped validated its weights at the stop, and
those weights compete for "best" too (an uninterrupted run never looked at them).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import io, optimizers
from .._validation import check_bool, check_choice, check_positive_int, check_rate, describe
from ..seq2seq import ATTENTIONS, BRIDGES, Decoder, Encoder, Seq2Seq, Vocabulary
from ..seq2seq.vocab import SPECIALS
from .run import Budget, ProgressLine
from .seq2seq_files import META_NAME, MODEL_NAME, load_model_dir, save_model_dir

__all__ = [
    "META_NAME",
    "MODEL_NAME",
    "Decoded",
    "Seq2SeqSettings",
    "Seq2SeqTrainer",
    "build_model",
    "checkpoint_state",
    "decode",
    "epoch_batches",
    "load_model_dir",
    "save_model_dir",
]
CHUNK_BATCHES = 32  # batches per length-sorted chunk


@dataclass
class Seq2SeqSettings:
    """Model and training settings (JSON round trip by to_config / from_config)."""

    cell: str = "gru"
    embed_dim: int = 128
    units: int = 256
    num_layers: int = 1
    bidirectional: bool = True
    attention: str | None = "general"
    input_feeding: bool = False
    bridge: str = "dense"
    batch_size: int = 64
    learning_rate: float = 2e-3
    clipnorm: float = 5.0
    sampling_probability: float = 0.0
    validate_every: int = 200
    patience: int = 2
    lr_decay: float = 0.5
    checkpoint_every: float = 60.0
    seed: int = 0
    dtype: str = "float32"
    output_bias_prior: bool = False

    def __post_init__(self) -> None:
        who = "Seq2SeqSettings"
        for name in ("embed_dim", "units", "num_layers", "batch_size", "validate_every"):
            check_positive_int(getattr(self, name), who, name)
        check_positive_int(self.patience, who, "patience")
        check_choice(self.attention, who, "attention", ATTENTIONS)
        check_choice(self.bridge, who, "bridge", BRIDGES)
        check_choice(self.dtype, who, "dtype", ("float32", "float64"))
        check_rate(self.sampling_probability, who, "sampling_probability")
        check_rate(self.lr_decay, who, "lr_decay")
        check_bool(self.output_bias_prior, who, "output_bias_prior")
        for name in ("learning_rate", "clipnorm", "checkpoint_every"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{who}: expected {name} > 0, got {describe(value)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"{who}: expected seed to be an int ≥ 0, got {describe(self.seed)}")

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Seq2SeqSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise ValueError(f"Seq2SeqSettings: unknown settings {unknown}")
        return cls(**config)


def build_model(settings: Seq2SeqSettings, source_size: int, target_size: int) -> Seq2Seq:
    """A fresh Seq2Seq for vocabularies of these sizes (seeded by settings.seed)."""
    s = settings
    enc = Encoder(
        source_size,
        s.embed_dim,
        s.units,
        cell=s.cell,
        num_layers=s.num_layers,
        bidirectional=s.bidirectional,
        dtype=s.dtype,
        seed=s.seed,
    )
    dec = Decoder(
        target_size,
        s.embed_dim,
        s.units,
        cell=s.cell,
        num_layers=s.num_layers,
        attention=s.attention,
        input_feeding=s.input_feeding,
        dtype=s.dtype,
        seed=s.seed + 1,
    )
    return Seq2Seq(enc, dec, bridge=s.bridge, seed=s.seed + 2)


# -- data -----------------------------------------------------------------------------------------
def _check_pairs(pairs, who: str, what: str) -> tuple[list[list[str]], list[list[str]]]:
    if not isinstance(pairs, (tuple, list)) or len(pairs) != 2:
        raise TypeError(f"{who}: expected {what} as (sources, targets), got {describe(pairs)}")
    src, tgt = (list(side) for side in pairs)
    if len(src) != len(tgt) or not src:
        raise ValueError(
            f"{who}: expected as many {what} sources as targets (≥ 1), got {len(src)} and "
            f"{len(tgt)}"
        )
    for side, seqs in (("source", src), ("target", tgt)):
        for i, seq in enumerate(seqs):
            if isinstance(seq, str) or not seq or not all(isinstance(t, str) for t in seq):
                raise ValueError(
                    f"{who}: {what} {side} {i} is not a non-empty list of str tokens "
                    f"({describe(seq)})"
                )
    return src, tgt


def encode_side(vocab: Vocabulary, sequences: list[list[str]]) -> list[np.ndarray]:
    """Each sequence as int64 ids with EOS appended (unknown tokens -> OOV)."""
    return [np.asarray(vocab.encode(seq)[0], dtype=np.int64) for seq in sequences]


def pad_batch(rows: list[np.ndarray]) -> np.ndarray:
    """Right-padded (B, max length) int64 ids (PAD = 0)."""
    out = np.zeros((len(rows), max(len(r) for r in rows)), dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def epoch_batches(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    """The batches (index arrays) of one epoch, length-bucketed (module docstring)."""
    rng = np.random.default_rng([seed, epoch])
    perm = rng.permutation(len(lengths))
    chunk = batch_size * CHUNK_BATCHES
    batches = []
    for start in range(0, len(perm), chunk):
        part = perm[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def log_prior(targets: list[np.ndarray], size: int) -> np.ndarray:
    """log p(y) − mean over the vocabulary, p the add-one smoothed frequency of each token id
    (EOS included) in `targets` (the output bias of `output_bias_prior`)."""
    counts = np.bincount(np.concatenate(targets), minlength=size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    return log_p - log_p.mean()


def _same_vocab(a: list[str], b: list[str], side: str) -> str | None:
    if a == b:
        return None
    if len(a) != len(b):
        return f"the {side} vocabulary has {len(b)} tokens, the checkpoint's {len(a)}"
    i = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    return (
        f"the {side} vocabularies differ at token id {i + len(SPECIALS)} ({b[i]!r} vs the "
        f"checkpoint's {a[i]!r})"
    )


# -- training -------------------------------------------------------------------------------------
class Seq2SeqTrainer:
    """Train a Seq2Seq on token pairs within a Budget (module docstring).

    Arguments:
        task: the task's name, stored in checkpoints and model directories ("translate").
        settings: a Seq2SeqSettings.
        source_vocab, target_vocab: Vocabulary of each side (built on the training pairs).
        train, valid: (sources, targets), each a list of lists of str tokens.
        extra: task-specific JSON kept in the checkpoint (e.g. the options that rebuild the
            data and vocabularies; read it back with `checkpoint_state(path)["extra"]`).
    Attributes: model, optimizer, step, epoch, history (list of {"step", "seconds",
    "train_loss", "val_loss", "learning_rate"}), best_val_loss, best_step.
    """

    def __init__(
        self,
        task: str,
        settings: Seq2SeqSettings,
        source_vocab: Vocabulary,
        target_vocab: Vocabulary,
        train,
        valid,
        extra: dict[str, Any] | None = None,
    ):
        who = "Seq2SeqTrainer"
        if not isinstance(task, str) or not task:
            raise ValueError(f"{who}: expected a task name, got {describe(task)}")
        if not isinstance(settings, Seq2SeqSettings):
            raise TypeError(f"{who}: expected Seq2SeqSettings, got {describe(settings)}")
        for side, v in (("source", source_vocab), ("target", target_vocab)):
            if not isinstance(v, Vocabulary):
                raise TypeError(f"{who}: expected a {side} Vocabulary, got {describe(v)}")
        self.task, self.settings = task, settings
        self.extra = dict(extra or {})
        self.source_vocab, self.target_vocab = source_vocab, target_vocab
        src, tgt = _check_pairs(train, who, "training")
        self.train_src, self.train_tgt = (
            encode_side(source_vocab, src),
            encode_side(target_vocab, tgt),
        )
        vsrc, vtgt = _check_pairs(valid, who, "validation")
        self.valid_src, self.valid_tgt = (
            encode_side(source_vocab, vsrc),
            encode_side(target_vocab, vtgt),
        )
        self.lengths = np.array([len(s) for s in self.train_src])
        self.model = build_model(settings, len(source_vocab), len(target_vocab))
        if settings.output_bias_prior:
            bias = self.model.params["decoder.output.bias"]
            bias[...] = log_prior(self.train_tgt, len(target_vocab))
        self.optimizer = optimizers.Adam(
            learning_rate=settings.learning_rate, global_clipnorm=settings.clipnorm
        )
        self.step = self.epoch = self.batch_index = 0
        self.seconds = 0.0
        self.running_loss: float | None = None
        self.bad_validations = 0
        self.history: list[dict[str, float]] = []
        self.best_val_loss = math.inf
        self.best_step = 0
        self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        self._batches: list[np.ndarray] | None = None

    # -- the loop ---------------------------------------------------------------------------------
    def _next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        if self._batches is None:
            s = self.settings
            self._batches = epoch_batches(self.lengths, s.batch_size, s.seed, self.epoch)
        rows = self._batches[self.batch_index]
        self.batch_index += 1
        if self.batch_index == len(self._batches):
            self.epoch, self.batch_index, self._batches = self.epoch + 1, 0, None
        return (
            pad_batch([self.train_src[i] for i in rows]),
            pad_batch([self.train_tgt[i] for i in rows]),
        )

    def validation_loss(self, model: Seq2Seq | None = None) -> float:
        """Token-weighted mean cross-entropy over the validation pairs."""
        model = self.model if model is None else model
        total = count = 0.0
        order = np.argsort([len(s) for s in self.valid_src], kind="stable")
        for start in range(0, len(order), 128):
            rows = order[start : start + 128]
            tgt = pad_batch([self.valid_tgt[i] for i in rows])
            n = float((tgt != 0).sum())
            total += n * model.evaluate_loss(pad_batch([self.valid_src[i] for i in rows]), tgt)
            count += n
        return total / count

    def _validate(self, budget: Budget, scheduled: bool = True) -> None:
        """Record the validation loss, keep the best weights; a scheduled validation also
        counts towards the learning-rate schedule (the one at the end of a run does not, so
        an interrupted and resumed run halves the rate at the same steps)."""
        val = self.validation_loss()
        self.history.append(
            {
                "step": self.step,
                "seconds": round(budget.elapsed(), 3),
                "train_loss": self.running_loss,
                "val_loss": val,
                "learning_rate": self.optimizer.learning_rate,
            }
        )
        if val < self.best_val_loss:
            self.best_val_loss, self.best_step, self.bad_validations = val, self.step, 0
            self.best_params = {k: v.copy() for k, v in self.model.params.items()}
        elif scheduled:
            self.bad_validations += 1
            if self.bad_validations >= self.settings.patience:
                self.optimizer.learning_rate = self.optimizer.learning_rate * self.settings.lr_decay
                self.bad_validations = 0

    def fit(
        self,
        budget: Budget,
        *,
        progress: ProgressLine | None = None,
        checkpoint: str | Path | None = None,
        max_steps: int | None = None,
    ) -> Seq2SeqTrainer:
        """Train until the budget is spent (or `max_steps` optimizer steps in all are done),
        validating every `validate_every` steps and at the end; checkpoint as documented."""
        if not isinstance(budget, Budget):
            raise TypeError(f"Seq2SeqTrainer.fit: expected a Budget, got {describe(budget)}")
        if max_steps is not None:
            check_positive_int(max_steps, "Seq2SeqTrainer.fit", "max_steps")
        s = self.settings
        last_save = time.perf_counter()
        try:
            while not budget.expired() and (max_steps is None or self.step < max_steps):
                src, tgt = self._next_batch()
                loss = self.model.train_step(
                    src, tgt, self.optimizer, sampling_probability=s.sampling_probability
                )
                if not math.isfinite(loss):
                    raise FloatingPointError(f"training loss became {loss} at step {self.step}")
                self.step += 1
                r = self.running_loss
                self.running_loss = loss if r is None else 0.98 * r + 0.02 * loss
                if self.step % s.validate_every == 0:
                    self._validate(budget)
                if progress is not None:
                    progress.update(
                        step=self.step,
                        epoch=self.epoch,
                        loss=self.running_loss,
                        val="-" if math.isinf(self.best_val_loss) else self.best_val_loss,
                    )
                if checkpoint is not None and time.perf_counter() - last_save > s.checkpoint_every:
                    self.save_checkpoint(checkpoint, budget)
                    last_save = time.perf_counter()
            if not self.history or self.history[-1]["step"] != self.step:
                self._validate(budget, scheduled=False)
        except KeyboardInterrupt:
            if checkpoint is not None:
                self.save_checkpoint(checkpoint, budget)
            raise
        finally:
            if progress is not None:
                progress.close()
        self.seconds = budget.elapsed()
        if checkpoint is not None:
            self.save_checkpoint(checkpoint, budget)
        return self

    def best_model(self) -> Seq2Seq:
        """A copy of the model with the weights of the lowest validation loss."""
        model = build_model(self.settings, len(self.source_vocab), len(self.target_vocab))
        for key, value in model.params.items():
            value[...] = self.best_params[key]
        return model

    # -- checkpoints ------------------------------------------------------------------------------
    def save_checkpoint(self, path: str | Path, budget: Budget | None = None) -> None:
        """Everything a resumed run needs (module docstring), written atomically."""
        if budget is not None:
            self.seconds = budget.elapsed()
        tensors = {f"model/{k}": v for k, v in self.model.params.items()}
        tensors.update({f"best/{k}": v for k, v in self.best_params.items()})
        tensors.update({f"optimizer/{k}": v for k, v in self.optimizer.get_state().items()})
        state = {
            "task": self.task,
            "extra": self.extra,
            "settings": self.settings.to_config(),
            "source_vocab": self.source_vocab.get_config()["tokens"],
            "target_vocab": self.target_vocab.get_config()["tokens"],
            "step": self.step,
            "epoch": self.epoch,
            "batch_index": self.batch_index,
            "seconds": self.seconds,
            "running_loss": self.running_loss,
            "bad_validations": self.bad_validations,
            "history": self.history,
            "best_val_loss": None if math.isinf(self.best_val_loss) else self.best_val_loss,
            "best_step": self.best_step,
            "learning_rate": self.optimizer.learning_rate,
            "sampling_rng": self.model.decoder.rng.bit_generator.state,
        }
        io.save_checkpoint(path, tensors, state)

    @classmethod
    def resume(
        cls,
        path: str | Path,
        task: str,
        source_vocab: Vocabulary,
        target_vocab: Vocabulary,
        train,
        valid,
    ) -> Seq2SeqTrainer:
        """The trainer of a checkpoint, ready to continue; FormatError (a ValueError) for a
        checkpoint of another task or vocabulary, or one that is not a seq2seq checkpoint."""
        tensors, state = io.load_checkpoint(path)
        where = str(path)
        if state.get("task") != task:
            raise io.FormatError(
                f"{where}: a checkpoint of task {state.get('task')!r}, not {task!r}; refusing "
                f"to continue it as {task!r}"
            )
        try:
            settings = Seq2SeqSettings.from_config(state["settings"])
            vocabs = (state["source_vocab"], state["target_vocab"])
        except (KeyError, TypeError, ValueError) as err:
            raise io.FormatError(f"{where}: not a seq2seq checkpoint ({err})") from None
        for side, saved, given in (
            ("source", vocabs[0], source_vocab),
            ("target", vocabs[1], target_vocab),
        ):
            problem = _same_vocab(saved, given.get_config()["tokens"], side)
            if problem:
                raise io.FormatError(
                    f"{where}: built from another vocabulary: {problem}; resume with the same "
                    f"data and options, or start a new run"
                )
        trainer = cls(task, settings, source_vocab, target_vocab, train, valid, state.get("extra"))
        trainer._load_state(tensors, state, where)
        return trainer

    def _load_state(self, tensors: dict[str, np.ndarray], state: dict[str, Any], where: str):
        params = self.model.params
        for prefix in ("model/", "best/"):
            for key, value in params.items():
                got = tensors.get(prefix + key)
                if got is None or got.shape != value.shape or got.dtype != value.dtype:
                    raise io.FormatError(
                        f"{where}: tensor {prefix + key!r} is {describe(got)}, the model "
                        f"needs {value.dtype} {value.shape}"
                    )
        for key, value in params.items():
            value[...] = tensors[f"model/{key}"]
        self.best_params = {k: tensors[f"best/{k}"].copy() for k in params}
        n = len("optimizer/")
        self.optimizer.set_state(
            {k[n:]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        )
        self.optimizer.learning_rate = state["learning_rate"]
        self.step, self.epoch = int(state["step"]), int(state["epoch"])
        self.batch_index, self.seconds = int(state["batch_index"]), float(state["seconds"])
        self.running_loss = state["running_loss"]
        self.bad_validations = int(state["bad_validations"])
        self.history = list(state["history"])
        best = state["best_val_loss"]
        self.best_val_loss = math.inf if best is None else float(best)
        self.best_step = int(state["best_step"])
        self.model.decoder.rng.bit_generator.state = state["sampling_rng"]


def checkpoint_state(path: str | Path) -> dict[str, Any]:
    """The JSON state of a checkpoint ("task", "extra", "settings", "seconds", ...), read
    without its tensors (to rebuild a task's data before `Seq2SeqTrainer.resume`)."""
    return io.inspect_file(path)["state"]


# -- decoding -------------------------------------------------------------------------------------
@dataclass
class Decoded:
    """One decoded source: the output tokens, the source tokens the vocabulary did not know,
    the score, and on request the attention (len(tokens) + 1, len(source) + 1): one row per
    output token and EOS, one column per source token and the source's EOS."""

    tokens: list[str]
    unknown: list[str]
    score: float
    attention: np.ndarray | None = None


def decode(
    model: Seq2Seq,
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    sources: list[list[str]],
    *,
    beam_width: int = 1,
    max_len: int | None = None,
    length_penalty: float = 0.6,
    batch_size: int = 64,
    return_attention: bool = False,
) -> list[Decoded]:
    """Greedy (beam_width 1) or beam search over many sources, in batches of similar length;
    answers in the order of `sources`. max_len defaults to 2 × the batch's longest source + 10."""
    who = "decode"
    check_positive_int(beam_width, who, "beam_width")
    check_positive_int(batch_size, who, "batch_size")
    if not isinstance(sources, (list, tuple)) or not sources:
        raise ValueError(
            f"{who}: expected a non-empty list of token lists, got {describe(sources)}"
        )
    for i, seq in enumerate(sources):
        if isinstance(seq, str) or not seq or not all(isinstance(t, str) for t in seq):
            raise ValueError(
                f"{who}: source {i} is not a non-empty list of str tokens ({describe(seq)})"
            )
    ids = encode_side(source_vocab, list(sources))
    order = np.argsort([len(r) for r in ids], kind="stable")
    out: list[Decoded | None] = [None] * len(ids)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        src = pad_batch([ids[i] for i in rows])
        limit = max_len if max_len is not None else 2 * src.shape[1] + 10
        if beam_width == 1:
            hyps = model.greedy(src, max_len=limit, return_attention=return_attention)
        else:
            hyps = model.beam_search(
                src,
                beam_width=beam_width,
                max_len=limit,
                length_penalty=length_penalty,
                return_attention=return_attention,
            )
        for i, hyp in zip(rows, hyps, strict=True):
            n_src = len(ids[i])
            att = None if hyp.attention is None else np.asarray(hyp.attention)[:, :n_src]
            known = source_vocab.stoi
            out[i] = Decoded(
                target_vocab.decode(hyp.tokens),
                [t for t in sources[i] if t not in known],
                float(hyp.score),
                att,
            )
    return out  # type: ignore[return-value]
