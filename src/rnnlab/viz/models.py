"""The models the explorer's views run: found, loaded from the cache, or trained in seconds.

    models = ExplorerModels.load_or_train()      # `rnnlab explore` on a fresh install
    models = ExplorerModels.for_tests()          # tiny, deterministic, instant

Four models (each a `Sequential` whose `metadata` holds its vocabulary):

    char_rnn   one-hot characters → SimpleRNN(64) → Dense(V) logits: the Elman network of the
               unrolling and parameter-sharing views (W_xh = weight_ih (H, V), W_hh = weight_hh,
               W_hy = the Dense weight (V, H)). Trained on Shakespeare by truncated BPTT with an
               Embedding(V, E) in front, which is then folded into W_xh = W_ih · Eᵀ: reading a
               one-hot vector and reading its embedding are the same computation.
    tiny_rnn   the same shape with H = 6, so that the BPTT view's numbers fit on a screen.
    sentiment  word ids → Embedding(V_w, 32, mask_zero) → GRU(32) → Dense(1, sigmoid), trained
               on the rated movie-review sentences of `rnnlab.datasets.load_vader_movies`.

The training is library code: `rnnlab.training.train_char_lm` (char_rnn, tiny_rnn) and
`rnnlab.training.train_sentiment` (sentiment).
    char_lm    the generation view's model: a char model file you give, else the demo's
               `results/demo/model.safetensors` when it exists, else char_rnn.

Trained models are cached as safetensors under `$RNNLAB_HOME/explorer/` (each with its
vocabulary and an `explorer_version` in its metadata; a stale or unreadable cache file is
retrained). The views share the models' layers (forward caches), so callers running views
from several threads hold `models.lock`; the functions of `rnnlab.viz.data` do.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import io
from ..cells import SimpleRNNCell
from ..datasets import CharVocab
from ..datasets.sentiment import LABEL_NAMES, WordVocab
from ..layers import GRU, LSTM, Dense, Embedding, SimpleRNN
from ..layers.recurrent import Recurrent
from ..layers.wrappers import Bidirectional
from ..model import Sequential
from ..training import sentiment as sentiment_training
from ..training.charlm import CharLMSettings, model_vocab, train_char_lm

#: bump when the cached models' architecture or training changes: older cache files retrain
EXPLORER_VERSION = 1
CACHE_DIR = "explorer"
DEMO_MODEL = Path("results") / "demo" / "model.safetensors"
FILES = {
    "char_rnn": "char_rnn.safetensors",
    "tiny_rnn": "tiny_rnn.safetensors",
    "sentiment": "sentiment.safetensors",
}

CHAR_RNN_UNITS = 64
TINY_UNITS = 6
# shares of the time budget for training (the rest: fetching, reading, evaluating, saving),
# in training order, and the seconds kept back after each for what follows it
_SHARE = {"char_rnn": 0.36, "tiny_rnn": 0.06, "sentiment": 0.30}
_ORDER = ("char_rnn", "tiny_rnn", "sentiment")
_RESERVE = {"char_rnn": 6.0, "tiny_rnn": 5.0, "sentiment": 2.5}

Log = Callable[[str], Any]


# -- structure checks ----------------------------------------------------------------------------
def check_char_model(model: Sequential, who: str) -> CharVocab:
    """Validate a character model for streaming: ids (Embedding first) or one-hot input,
    forward-reading recurrent layers returning sequences, a Dense(V) last. Returns its vocab."""
    if not isinstance(model, Sequential) or not model.layers:
        raise ValueError(f"{who}: expected a Sequential character model, got {model!r}")
    vocab = model_vocab(model, who)
    V = len(vocab)
    last = model.layers[-1]
    if not isinstance(last, Dense) or last.units != V:
        raise ValueError(
            f"{who}: expected the last layer to be Dense({V}) (one output per "
            f"character), got {last!r}"
        )
    rec = model.recurrent_layers()
    if not rec:
        raise ValueError(f"{who}: the model has no recurrent layer")
    for layer in model.layers:
        if isinstance(layer, Bidirectional) or (
            isinstance(layer, Recurrent) and (layer.go_backwards or not layer.return_sequences)
        ):
            raise ValueError(
                f"{who}: {layer.who} cannot generate text one character at a "
                f"time (it reads backwards or returns only its last state)"
            )
    first = model.layers[0]
    if isinstance(first, Embedding):
        if first.input_dim != V:
            raise ValueError(
                f"{who}: the Embedding takes {first.input_dim} ids, the "
                f"vocabulary has {V} characters"
            )
    elif not (isinstance(first, Recurrent) and first.built and first.input_shape[-1] == V):
        raise ValueError(
            f"{who}: expected an Embedding or a recurrent layer reading one-hot "
            f"vectors of size {V} first, got {first!r}"
        )
    return vocab


def _check_elman(model: Sequential, who: str) -> CharVocab:
    """One-hot → SimpleRNN(tanh, return_sequences) → Dense(V): the Elman network views."""
    vocab = check_char_model(model, who)
    if (
        len(model.layers) != 2
        or not isinstance(model.layers[0], SimpleRNN)
        or model.layers[0].activation != "tanh"
        or model.layers[1].activation != "linear"
    ):
        raise ValueError(
            f"{who}: expected one-hot → SimpleRNN(tanh) → Dense(V) logits, got "
            f"{[type(layer).__name__ for layer in model.layers]}"
        )
    return vocab


def _check_sentiment(model: Sequential, who: str) -> WordVocab:
    layers = model.layers if isinstance(model, Sequential) else []
    if (
        len(layers) != 3
        or not isinstance(layers[0], Embedding)
        or not layers[0].mask_zero
        or not isinstance(layers[1], (GRU, LSTM))
        or layers[1].return_sequences
        or layers[1].go_backwards
        or not isinstance(layers[2], Dense)
        or layers[2].units != 1
        or layers[2].activation != "sigmoid"
    ):
        raise ValueError(
            f"{who}: expected Embedding(mask_zero) → GRU|LSTM → Dense(1, sigmoid), "
            f"got {[type(layer).__name__ for layer in layers]}"
        )
    words = model.metadata.get("words") if isinstance(model.metadata, dict) else None
    if words is None:
        raise ValueError(f"{who}: the model has no word vocabulary in its metadata")
    vocab = WordVocab.from_config(words)
    if layers[0].input_dim != len(vocab):
        raise ValueError(
            f"{who}: the Embedding takes {layers[0].input_dim} ids, the word "
            f"vocabulary has {len(vocab)}"
        )
    return vocab


# -- the models ----------------------------------------------------------------------------------
@dataclass
class ExplorerModels:
    """The explorer's four models and where each came from (`sources`, one line each)."""

    char_rnn: Sequential
    tiny_rnn: Sequential
    sentiment: Sequential
    char_lm: Sequential
    sources: dict[str, str] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)
    #: a model of `rnnlab task sentiment` for the hidden-state view (`rnnlab explore --sentiment`)
    task_sentiment: Sequential | None = None

    def __post_init__(self) -> None:
        self.char_vocab = _check_elman(self.char_rnn, "ExplorerModels.char_rnn")
        self.tiny_vocab = _check_elman(self.tiny_rnn, "ExplorerModels.tiny_rnn")
        if self.tiny_rnn.layers[0].units > TINY_UNITS:
            raise ValueError(
                f"ExplorerModels.tiny_rnn: expected at most {TINY_UNITS} hidden "
                f"units, got {self.tiny_rnn.layers[0].units}"
            )
        self.word_vocab = _check_sentiment(self.sentiment, "ExplorerModels.sentiment")
        self.char_lm_vocab = check_char_model(self.char_lm, "ExplorerModels.char_lm")

    def describe(self) -> dict[str, Any]:
        """JSON-serialisable facts about each model (layers, sizes, vocabulary, source)."""
        out: dict[str, Any] = {}
        for key in ("char_rnn", "tiny_rnn", "sentiment", "char_lm"):
            model: Sequential = getattr(self, key)
            meta = model.metadata or {}
            rec = model.recurrent_layers()
            entry = {
                "layers": [type(layer).__name__ for layer in model.layers],
                "cell": type(rec[-1]).__name__ if rec else None,
                "units": rec[-1].units if rec else None,
                "parameters": model.count_params(),
                "vocab_size": len(self.word_vocab)
                if key == "sentiment"
                else len(CharVocab.from_config(meta["vocab"])),
                "source": self.sources.get(key, ""),
            }
            for fact in ("validation_loss", "validation_accuracy", "dataset", "trained_seconds"):
                if fact in meta:
                    entry[fact] = meta[fact]
            out[key] = entry
        return out

    # -- for tests ---------------------------------------------------------------------------------
    @classmethod
    def for_tests(cls) -> ExplorerModels:
        """Tiny untrained models with fixed seeds: no download, no training, a few ms.

        char vocabulary: newline, space, ASCII letters and ".,;:!?'-"; char_rnn H = 16,
        tiny_rnn H = 4, char_lm an Embedding → LSTM(16) → Dense(V) model (the demo's shape),
        sentiment Embedding(·, 8) → GRU(8) → Dense(1, sigmoid) over a 40-word vocabulary.
        """
        letters = "abcdefghijklmnopqrstuvwxyz"
        vocab = CharVocab("\n !',-.:;?" + letters.upper() + letters)
        V = len(vocab)
        char_rnn = _elman(V, 16, seed=11, name="char_rnn", scale=2.0)
        tiny = _elman(V, 4, seed=12, name="tiny_rnn", scale=2.0)
        lm = Sequential(
            [
                Embedding(V, 8, name="embedding", seed=13),
                LSTM(16, return_sequences=True, name="lstm_0", seed=14),
                Dense(V, name="logits", seed=15),
            ],
            name="char_lm",
            seed=0,
        )
        lm.build((None,))
        lm.layers[0].params["weight"] *= 20.0  # U(±1) embeddings: visible differences
        words = WordVocab(
            "the a movie film was is and of to it great good fun best "
            "bad awful boring worst dull not but very too i this in "
            "funny love hate story plot acting with no more than so".split()
        )
        sentiment = Sequential(
            [
                Embedding(len(words), 8, mask_zero=True, name="embedding", seed=16),
                GRU(8, name="gru", seed=17),
                Dense(1, activation="sigmoid", name="output", seed=18),
            ],
            name="sentiment",
            seed=0,
        )
        sentiment.build((None,))
        sentiment.layers[0].params["weight"] *= 20.0
        for model in (char_rnn, tiny, lm):
            model.metadata = {"vocab": vocab.to_config(), "explorer_version": EXPLORER_VERSION}
        sentiment.metadata = {
            "words": words.to_config(),
            "labels": list(LABEL_NAMES),
            "explorer_version": EXPLORER_VERSION,
        }
        src = "for_tests(): untrained, fixed seed"
        return cls(
            char_rnn,
            tiny,
            sentiment,
            lm,
            {k: src for k in ("char_rnn", "tiny_rnn", "sentiment", "char_lm")},
        )

    # -- the real thing ----------------------------------------------------------------------------
    @classmethod
    def load_or_train(
        cls,
        model_path: str | Path | None = None,
        home: str | Path | None = None,
        budget_seconds: float = 60,
        log: Log | None = print,
    ) -> ExplorerModels:
        """Load or build every model, training what is missing within `budget_seconds`.

        Arguments:
            model_path: a char model file (from `rnnlab train` or `rnnlab demo`) for the
                generation view; default: `results/demo/model.safetensors` if it exists,
                else the explorer's char_rnn.
            home: cache root (default `$RNNLAB_HOME` or `~/.cache/rnnlab`); models live in
                `<home>/explorer/`, datasets in `<home>/datasets/`.
            budget_seconds: time for everything on a fresh cache (fetching the two datasets,
                training three small models); ≥ 10.
            log: called with one line per thing done (None: silent).

        Raises:
            FileNotFoundError / rnnlab.FormatError / ValueError for a bad `model_path`;
            rnnlab.datasets.DatasetError when a dataset cannot be fetched.
        """
        from ..datasets import data_home

        say = log if log is not None else (lambda message: None)
        if not callable(say):
            raise TypeError(
                f"ExplorerModels.load_or_train: expected log to be callable or None, got {log!r}"
            )
        if (
            isinstance(budget_seconds, bool)
            or not isinstance(budget_seconds, (int, float))
            or not math.isfinite(budget_seconds)
            or budget_seconds < 10
        ):
            raise ValueError(
                f"ExplorerModels.load_or_train: expected budget_seconds ≥ 10, "
                f"got {budget_seconds!r}"
            )
        started = time.perf_counter()
        folder = data_home(home) / CACHE_DIR
        sources: dict[str, str] = {}

        char_lm = None
        if model_path is not None:
            char_lm = io.load_model(model_path)
            check_char_model(char_lm, f"model {model_path}")
            sources["char_lm"] = f"{model_path}"
            say(f"generation model: {model_path}")
        elif DEMO_MODEL.is_file():
            try:
                char_lm = io.load_model(DEMO_MODEL)
                check_char_model(char_lm, f"model {DEMO_MODEL}")
                sources["char_lm"] = f"{DEMO_MODEL} (the demo's model)"
                say(f"generation model: the demo's {DEMO_MODEL}")
            except (OSError, ValueError) as err:
                char_lm = None
                say(f"not using {DEMO_MODEL}: {err}")

        cached = {key: _load_cached(folder / name, key, say) for key, name in FILES.items()}
        missing = [key for key, model in cached.items() if model is None]
        if missing:
            say(
                f"first start: fetching data and training {', '.join(missing)} in under "
                f"{budget_seconds:.0f} s (once: cached in {folder})"
            )

        def seconds_for(key: str) -> float:
            """The key's share of the budget, less if earlier steps ran late."""
            later = sum(
                _SHARE[k] * budget_seconds for k in _ORDER[_ORDER.index(key) + 1 :] if k in missing
            )
            left = budget_seconds - (time.perf_counter() - started) - later - _RESERVE[key]
            return max(1.0, min(_SHARE[key] * budget_seconds, left))

        corpus = None
        if "char_rnn" in missing or "tiny_rnn" in missing:
            from ..datasets import load_shakespeare

            corpus = load_shakespeare(home=home, progress=say)
        if cached["char_rnn"] is None:
            cached["char_rnn"] = train_char_rnn(
                corpus, CHAR_RNN_UNITS, seconds_for("char_rnn"), seed=0, log=say
            )
            _save(cached["char_rnn"], folder / FILES["char_rnn"], say)
        vocab = model_vocab(cached["char_rnn"], "char_rnn")
        if cached["tiny_rnn"] is not None and model_vocab(cached["tiny_rnn"], "tiny_rnn") != vocab:
            say("the cached tiny_rnn has another vocabulary than char_rnn; training it again")
            cached["tiny_rnn"] = None
            missing.append("tiny_rnn")
        if cached["tiny_rnn"] is None:
            if corpus is None:
                from ..datasets import load_shakespeare

                corpus = load_shakespeare(home=home, progress=say)
            cached["tiny_rnn"] = train_char_rnn(
                corpus,
                TINY_UNITS,
                seconds_for("tiny_rnn"),
                seed=1,
                log=say,
                vocab=vocab,
                name="tiny_rnn",
            )
            _save(cached["tiny_rnn"], folder / FILES["tiny_rnn"], say)
        if cached["sentiment"] is None:
            from ..datasets import load_vader_movies

            data = load_vader_movies(home=home, progress=say)
            cached["sentiment"] = train_sentiment(data, seconds_for("sentiment"), seed=0, log=say)
            _save(cached["sentiment"], folder / FILES["sentiment"], say)
        for key in FILES:
            if key not in missing:
                sources[key] = f"{folder / FILES[key]} (cached)"
            else:
                sources[key] = f"{folder / FILES[key]} (trained now)"
        if char_lm is None:
            char_lm = cached["char_rnn"]
            sources["char_lm"] = (
                "the explorer's char_rnn (no demo model; run `rnnlab demo` for a better one)"
            )
        models = cls(cached["char_rnn"], cached["tiny_rnn"], cached["sentiment"], char_lm, sources)
        say(f"explorer models ready in {time.perf_counter() - started:.1f} s")
        return models


# -- building blocks -----------------------------------------------------------------------------
def _elman(V: int, H: int, seed: int, name: str, scale: float = 1.0) -> Sequential:
    """One-hot (V) → SimpleRNN(H, tanh, return_sequences) → Dense(V), built, seeded."""
    model = Sequential(
        [
            SimpleRNN(H, return_sequences=True, name="rnn", seed=seed),
            Dense(V, name="logits", seed=seed + 1000),
        ],
        name=name,
        seed=seed,
    )
    model.build((None, V))
    if scale != 1.0:
        model.layers[0].params["weight_ih"] *= scale
        model.layers[1].params["weight"] *= scale
    return model


def _load_cached(path: Path, key: str, say: Log) -> Sequential | None:
    if not path.is_file():
        return None
    try:
        model = io.load_model(path)
        if model.metadata.get("explorer_version") != EXPLORER_VERSION:
            say(f"{path} was made by another rnnlab version; training it again")
            return None
        if key == "sentiment":
            _check_sentiment(model, str(path))
        else:
            _check_elman(model, str(path))
        return model
    except (OSError, ValueError) as err:  # FormatError is a ValueError
        say(f"cannot use the cached {path} ({err}); training it again")
        return None


def _save(model: Sequential, path: Path, say: Log) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        model.save(path)
        say(f"saved {path}")
    except OSError as err:  # a read-only cache costs a retrain next time, nothing else
        say(f"could not cache {path}: {err}")


#: the explorer's Elman network's training: the char recipe with a small, fast setting
CHAR_RNN_SETTINGS = dict(
    embedding=32, batch_size=64, k1=32, learning_rate=3e-3, clipnorm=5.0, segment_length=1024
)
#: characters of the validation split the explorer's char models are scored on
CHAR_RNN_VALIDATION_CHARS = 20_000


def train_char_rnn(
    corpus,
    units: int,
    seconds: float,
    seed: int = 0,
    log: Log | None = None,
    vocab: CharVocab | None = None,
    name: str = "char_rnn",
    embedding: int = 32,
) -> Sequential:
    """Train Embedding(V, E) → SimpleRNN(units) → Dense(V) on `corpus` (a TextCorpus) with
    `rnnlab.training.train_char_lm` (TBPTT(32), `seconds`), then fold the embedding into W_xh:
    returns the one-hot model with the vocabulary, validation loss and settings in its
    metadata."""
    say = log or (lambda message: None)
    settings = CharLMSettings(
        cell=SimpleRNNCell, units=units, seed=seed, **{**CHAR_RNN_SETTINGS, "embedding": embedding}
    )
    say(f"training {name}: SimpleRNN({units}) on Shakespeare for {seconds:.0f} s")
    run = train_char_lm(
        corpus,
        settings,
        seconds=seconds,
        source="shakespeare",
        vocab=vocab,
        eval_every=None,
        final_chars=CHAR_RNN_VALIDATION_CHARS,
    )
    progress = run.progress
    say(
        f"{name}: {progress.tokens:,} characters in {progress.seconds:.1f} s, validation "
        f"loss {run.val_loss:.3f} nats/char"
    )
    emb, rnn, dense = run.model.layers
    vocab = run.vocab
    model = _elman(len(vocab), units, seed=seed, name=name)
    folded = model.layers[0].params
    folded["weight_ih"][...] = rnn.params["weight_ih"] @ emb.params["weight"].T  # (H, V)
    for key in ("weight_hh", "bias_ih", "bias_hh"):
        folded[key][...] = rnn.params[key]
    for key in ("weight", "bias"):
        model.layers[1].params[key][...] = dense.params[key]
    model.metadata = {
        "vocab": vocab.to_config(),
        "dataset": "shakespeare",
        "validation_loss": round(float(run.val_loss), 4),
        "trained_chars": progress.tokens,
        "trained_seconds": round(progress.seconds, 1),
        "settings": settings.to_config(),
        "explorer_version": EXPLORER_VERSION,
    }
    return model


def train_sentiment(
    data, seconds: float, seed: int = 0, log: Log | None = None, max_epochs: int = 12
) -> Sequential:
    """Train the explorer's Embedding(mask_zero) → GRU(32) → Dense(1, sigmoid) classifier on a
    SentimentDataset with `rnnlab.training.train_sentiment` for `seconds` (one epoch at least)
    or `max_epochs`; the model's metadata holds its word vocabulary and result."""
    settings = sentiment_training.SentimentSettings(max_epochs=max_epochs, seed=seed)
    run = sentiment_training.train_sentiment(data, settings, seconds=seconds, log=log)
    run.model.metadata["explorer_version"] = EXPLORER_VERSION
    return run.model


__all__ = [
    "DEMO_MODEL",
    "EXPLORER_VERSION",
    "ExplorerModels",
    "check_char_model",
    "train_char_rnn",
    "train_sentiment",
]
