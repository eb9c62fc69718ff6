"""The explorer's views as data: one function per view, every number computed by the engine.

Each function takes the models (`rnnlab.viz.models.ExplorerModels`) and keyword parameters,
checks every parameter (a ValueError says what was expected and what came: the server answers
it with HTTP 400), and returns a JSON-serialisable dict with "view": <name>. Floats are rounded
to 5 significant digits; a non-finite value would be null. `compute(view, models, params)`
dispatches by view name, `VIEWS` lists the names in order.

How the numbers are made (no second implementation of the math):

- Unrolling in time is literal (`rnnlab.viz.unrolled`): one copy of the recurrent layer per
  time step, sharing the very same parameter arrays; backpropagating through the copies, each
  with its own `backward`, gives the per-step contributions to ∂L/∂W. The views check that
  the contributions sum to the whole-sequence layer's `backward`.
- Gradients are computed in float64 copies of the models, so the checks show ~1e-16.
- Generation is `rnnlab.generate.sample_steps`, the sampler behind `generate.stream`: same
  model, prime, temperature and seed, same text.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..cells import Cell, get_cell
from ..datasets.sentiment import tokenize
from ..generate import sample_steps
from ..initializers import orthogonal
from ..layers import layer_for_cell
from ..layers.base import Layer
from . import sentiment_task
from .attention import attention_view
from .forecast_view import forecast_view
from .models import ExplorerModels
from .unrolled import (
    clone_layer,
    elman_bptt,
    one_hot,
    step_backward,
    step_copies,
    unroll_forward,
)

VIEWS = (
    "unroll",
    "hidden-state",
    "weight-sharing",
    "generation",
    "vanishing-gradients",
    "bptt-flow",
    "attention",
    "forecast",
)
CELLS = ("rnn", "lstm", "gru")  # the cell families the vanishing-gradients view compares
INITS = ("orthogonal", "random")
PREVIEW = 8  # preview blocks are at most 8 × 8
TOP_UNROLL = 5
TOP_GENERATION = 10
H_GENERATION = 32  # hidden units shown per generation step
VANISHING_INPUTS = 8  # input features of the fresh layers in vanishing_gradients


# -- numbers to JSON -----------------------------------------------------------------------------
def _r(x) -> float | None:
    """A float rounded to 5 significant digits (None if not finite)."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.5g}")


def _rl(a) -> list:
    """An array as nested lists of rounded floats."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return _r(a)
    if a.ndim == 1:
        return [_r(v) for v in a]
    return [_rl(row) for row in a]


def _norm(a) -> float:
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64)))


# -- parameter checks ----------------------------------------------------------------------------
def _check_int(value, who: str, name: str, low: int, high: int | None = None) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or value < low
        or (high is not None and value > high)
    ):
        span = f"an int in [{low}, {high}]" if high is not None else f"an int ≥ {low}"
        raise ValueError(f"{who}: expected {name} to be {span}, got {value!r}")
    return int(value)


def _check_float(value, who: str, name: str, low: float, high: float) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or not low <= value <= high
    ):
        raise ValueError(
            f"{who}: expected {name} to be a number in [{low:g}, {high:g}], got {value!r}"
        )
    return float(value)


def _check_text(value, who: str, name: str, low: int, high: int, vocab=None) -> str:
    if not isinstance(value, str):
        raise ValueError(
            f"{who}: expected {name} to be a string of {low} to {high} "
            f"characters, got {type(value).__name__} {value!r:.60}"
        )
    if not low <= len(value) <= high:
        raise ValueError(f"{who}: expected {name} of {low} to {high} characters, got {len(value)}")
    if vocab is not None:
        for i, ch in enumerate(value):
            if ch not in vocab:
                raise ValueError(
                    f"{who}: character {ch!r} (U+{ord(ch):04X}) at position {i} "
                    f"of {name} is not in the model's vocabulary "
                    f"({len(vocab.chars)} characters)"
                )
    return value


def _check_models(models, who: str) -> ExplorerModels:
    if not isinstance(models, ExplorerModels):
        raise TypeError(
            f"{who}: expected ExplorerModels (rnnlab.viz.models), got {type(models).__name__}"
        )
    return models


# -- small helpers -------------------------------------------------------------------------------
def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    with np.errstate(under="ignore"):
        p = np.exp(z)
    return p / p.sum(axis=-1, keepdims=True)


def _top(p: np.ndarray, vocab, k: int) -> list[dict[str, Any]]:
    order = np.argsort(-p, kind="stable")[:k]
    return [{"char": vocab.decode([int(i)]), "p": _r(p[i])} for i in order]


def _char_label(ch: str) -> str:
    return {"\n": "\\n", " ": "␣", "\t": "\\t"}.get(ch, ch)


# -- 1. unrolling --------------------------------------------------------------------------------
def unroll(models: ExplorerModels, text: str = "hello") -> dict[str, Any]:
    """The Elman network unrolled over `text`: h_t after each character and the 5 likeliest
    next characters (softmax of W_hy h_t + b_y)."""
    who = "unroll"
    models = _check_models(models, who)
    vocab = models.char_vocab
    text = _check_text(text, who, "text", 1, 64, vocab)
    with models.lock:
        rnn, dense = models.char_rnn.layers
        ids = vocab.encode(text)
        V, H = len(vocab), rnn.units
        hs = rnn.forward(one_hot(ids, V, rnn.dtype))  # (1, T, H)
        probs = _softmax(dense.forward(hs))[0]  # (T, V)
        steps = [
            {"t": t, "token": ch, "h": _rl(hs[0, t]), "top": _top(probs[t], vocab, TOP_UNROLL)}
            for t, ch in enumerate(text)
        ]
        matrices = [
            {"name": name, "shape": list(w.shape), "norm": _r(_norm(w))}
            for name, w in (
                ("W_xh", rnn.params["weight_ih"]),
                ("W_hh", rnn.params["weight_hh"]),
                ("W_hy", dense.params["weight"]),
            )
        ]
    return {
        "view": "unroll",
        "tokens": list(text),
        "hidden_size": H,
        "vocab_size": V,
        "matrices": matrices,
        "steps": steps,
    }


# -- 2. hidden-state dynamics --------------------------------------------------------------------
def hidden_state(
    models: ExplorerModels, text: str = "the movie was great", model: str = "explorer"
) -> dict[str, Any]:
    """The sentiment model's hidden state after each word and its running P(positive):
    the output layer applied to h_t as if the sentence ended at word t. model "task": the
    `rnnlab task sentiment` model the explorer was given (viz/sentiment_task.py)."""
    who = "hidden-state"
    models = _check_models(models, who)
    text = _check_text(text, who, "text", 1, 300)
    words = tokenize(text)
    if not words:
        raise ValueError(f"{who}: expected text with at least one word, got {text!r:.60}")
    if len(words) > 60:
        raise ValueError(f"{who}: expected at most 60 words, got {len(words)}")
    if model not in sentiment_task.model_choices(models):
        raise ValueError(f"{who}: expected model in {sentiment_task.model_choices(models)}")
    if model == "task":
        with models.lock:
            return sentiment_task.view_data(models, words)
    with models.lock:
        emb, rnn, dense = models.sentiment.layers
        ids, known = models.word_vocab.encode(words)
        seq = clone_layer(rnn, return_sequences=True)
        hs = seq.forward(emb.forward(ids[None]).astype(np.float64))  # (1, T, H)
        out = clone_layer(dense).forward(hs)[0, :, 0]  # (T,)
    return {
        "view": "hidden-state",
        "words": words,
        "known": [bool(k) for k in known],
        "units": rnn.units,
        "h": _rl(hs[0]),
        "prediction": _rl(out),
        "label_names": list(models.sentiment.metadata.get("labels", ["negative", "positive"])),
        **sentiment_task.extras(models, hs[0], dense.params["weight"][0], "explorer"),
    }


def _preview_block(name: str, matrix_rows: int, matrix_cols: int, vocab, text: str):
    """Rows and columns shown in a preview: the top-left block, except that the one-hot side
    of W_xh (columns) and W_hy (rows) shows the characters of the text (others are 0)."""
    chars = list(dict.fromkeys(text))[:PREVIEW]
    char_ids = [int(vocab.encode(c)[0]) for c in chars]
    units = list(range(min(PREVIEW, matrix_rows if name != "W_hy" else matrix_cols)))
    if name == "W_xh":
        return units, char_ids, [f"h{i}" for i in units], [_char_label(c) for c in chars]
    if name == "W_hy":
        return char_ids, units, [_char_label(c) for c in chars], [f"h{i}" for i in units]
    cols = list(range(min(PREVIEW, matrix_cols)))
    return units, cols, [f"h{i}" for i in units], [f"h{j}" for j in cols]


# -- 3. parameter sharing ------------------------------------------------------------------------
def weight_sharing(models: ExplorerModels, text: str = "to be or not") -> dict[str, Any]:
    """Each time step's contribution to ∂L/∂W for the three shared matrices, their sum, and
    the whole-sequence gradient of the layers' backward (the sums agree: `sum_check`)."""
    who = "weight-sharing"
    models = _check_models(models, who)
    vocab = models.char_vocab
    text = _check_text(text, who, "text", 2, 64, vocab)
    with models.lock:
        run = elman_bptt(models.char_rnn, vocab, text)
        shared = models.char_rnn.count_params()
    matrices = []
    for name in ("W_xh", "W_hh", "W_hy"):
        contributions = [b[name] for b in run["back"]]  # t = 0..T-1
        total = run["full"][name]
        rows, cols, row_labels, col_labels = _preview_block(
            name, *total.shape, vocab, text[:-1] if name == "W_xh" else text[1:]
        )
        block = np.ix_(rows, cols)
        matrices.append(
            {
                "name": name,
                "shape": list(total.shape),
                "step_norms": [_r(_norm(c)) for c in contributions],
                "total_norm": _r(_norm(total)),
                "sum_check": _r(_norm(np.sum(contributions, axis=0) - total)),
                "preview_steps": [_rl(c[block]) for c in contributions],
                "preview_total": _rl(total[block]),
                "preview_rows": row_labels,
                "preview_cols": col_labels,
            }
        )
    return {
        "view": "weight-sharing",
        "tokens": list(text),
        "loss": _r(run["loss"]),
        "matrices": matrices,
        "params_shared": int(shared),
        "params_untied": int(shared * run["T"]),
    }


# -- 4. generation -------------------------------------------------------------------------------
def generation(
    models: ExplorerModels,
    prime: str = "ROMEO:",
    temperature: float = 0.8,
    seed: int = 0,
    steps: int = 80,
) -> dict[str, Any]:
    """Sample `steps` characters after `prime` from `models.char_lm`, recording at each step
    the input, the hidden state, the 10 likeliest characters of the sampling distribution and
    the character drawn (`rnnlab.generate.sample_steps`): the text is `rnnlab.generate.generate(
    model, vocab, prime, steps, temperature, seed=seed)`."""
    who = "generation"
    models = _check_models(models, who)
    vocab = models.char_lm_vocab
    prime = _check_text(prime, who, "prime", 1, 64, vocab)
    temperature = _check_float(temperature, who, "temperature", 0.0, 3.0)
    seed = _check_int(seed, who, "seed", 0, 2**63 - 1)
    steps = _check_int(steps, who, "steps", 1, 200)
    out = []
    with models.lock:
        for step in sample_steps(models.char_lm, vocab, prime, steps, temperature, seed=seed):
            out.append(
                {
                    "t": step.t,
                    "input": step.input,
                    "h": _rl(step.hidden[:H_GENERATION]),
                    "h_norm": _r(_norm(step.hidden)),
                    "probs": _top(step.probabilities, vocab, TOP_GENERATION),
                    "sampled": step.text,
                }
            )
    return {
        "view": "generation",
        "prime": prime,
        "temperature": temperature,
        "seed": seed,
        "steps": out,
        "text": "".join(step["sampled"] for step in out),
    }


# -- 5. vanishing and exploding gradients --------------------------------------------------------
def _fresh_layer(cell: type[Cell], units: int, init: str, radius: float, seed: int) -> Layer:
    """An untrained float64 layer of the cell family `cell` whose W_hh gate blocks (H × H
    each) have spectral radius `radius`: radius · Q with Q orthogonal, or a Gaussian matrix
    rescaled to it."""
    layer = layer_for_cell(cell)(
        units, return_state=True, dtype="float64", seed=seed, name=f"fresh_{cell.name}"
    )
    layer.build((None, VANISHING_INPUTS))
    rng = np.random.default_rng([seed, 1])
    w = layer.params["weight_hh"]
    for k in range(w.shape[0] // units):
        if init == "orthogonal":
            block = orthogonal((units, units), rng, np.float64)
        else:
            block = rng.standard_normal((units, units)) / math.sqrt(units)
            block /= np.max(np.abs(np.linalg.eigvals(block)))
        w[k * units : (k + 1) * units] = radius * block
    return layer


def vanishing_gradients(
    models: ExplorerModels | None,
    cells: Sequence[str] = CELLS,
    init: str = "orthogonal",
    clip: float | None = None,
    spectral_radius: float = 1.0,
    length: int = 50,
    units: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """‖∂L_T/∂h_t‖ for t = 0..T−1 in fresh (untrained) layers, with L_T = u · h_{T−1} a loss on
    the last output only (u a fixed random unit vector, so the last norm is 1).

    Inputs x_t ~ N(0, 1) of 8 features, the same for every cell; W_hh per gate block of
    spectral radius `spectral_radius` ("orthogonal": radius · an orthogonal matrix, all
    singular values equal; "random": a Gaussian matrix rescaled, singular values spread).
    The gradient is backpropagated through the unrolled layer, one step copy at a time, by
    each copy's backward; with `clip`, the state gradient entering each step is rescaled to
    norm ≤ clip (for the LSTM, dh and dc by the same factor), as gradient clipping would.
    """
    who = "vanishing-gradients"
    if models is not None:  # fresh layers: the trained models are not needed
        _check_models(models, who)
    if isinstance(cells, str) or not isinstance(cells, Sequence) or not cells:
        raise ValueError(
            f"{who}: expected cells as a non-empty list from {list(CELLS)}, got {cells!r:.80}"
        )
    for c in cells:
        if c not in CELLS:
            raise ValueError(f"{who}: expected cells from {list(CELLS)}, got {c!r:.40}")
    if len(set(cells)) != len(cells):
        raise ValueError(f"{who}: expected distinct cells, got {list(cells)}")
    families = [get_cell(c) for c in cells]  # the names, once: cell classes from here on
    if init not in INITS:
        raise ValueError(f"{who}: expected init in {list(INITS)}, got {init!r:.40}")
    if clip is not None:
        clip = _check_float(clip, who, "clip", 0.0, math.inf)
        if clip <= 0:
            raise ValueError(f"{who}: expected clip > 0 or None, got {clip!r}")
    radius = _check_float(spectral_radius, who, "spectral_radius", 0.1, 3.0)
    T = _check_int(length, who, "length", 5, 200)
    H = _check_int(units, who, "units", 4, 128)
    seed = _check_int(seed, who, "seed", 0, 2**63 - 1)
    rng = np.random.default_rng([seed, 0])
    x = rng.standard_normal((1, T, VANISHING_INPUTS))
    u = rng.standard_normal((1, H))
    u /= np.linalg.norm(u)
    series = []
    with np.errstate(under="ignore", over="ignore", invalid="ignore"):
        for family in families:
            layer = _fresh_layer(family, H, init, radius, seed)
            steps = step_copies(layer, T)
            unroll_forward(steps, x)
            dstates = [u.copy()] + [np.zeros((1, H))] * (len(layer.state_names) - 1)
            norms = [0.0] * T
            for t in range(T - 1, -1, -1):
                n = float(np.linalg.norm(dstates[0]))
                if clip is not None and n > clip:
                    dstates = [d * (clip / n) for d in dstates]
                    n = clip
                norms[t] = n
                dstates = step_backward(steps[t], dstates)
            series.append({"cell": family.name, "init": init, "norms": [_r(v) for v in norms]})
    return {"view": "vanishing-gradients", "length": T, "spectral_radius": radius, "series": series}


# -- 6. BPTT, step by step -----------------------------------------------------------------------
def bptt_flow(models: ExplorerModels, text: str = "hello") -> dict[str, Any]:
    """Backpropagation through time in the tiny Elman network (H ≤ 6), with its numbers.

    Forward: h_t and loss_t = CE(softmax(W_hy h_t + b_y), text[t+1]) for each input
    character text[t], t = 0..T−1 (T = len(text) − 1). Backward from t = T−1 down to 0:
    dh = ∂L/∂h_t = (from the output at t: W_hyᵀ(p_t − y_t)) + (from step t+1: W_hhᵀ δ_{t+1}),
    δ_t = dh ⊙ (1 − h_t²), and step t's contributions δ_t x_tᵀ to ∂L/∂W_xh and δ_t h_{t−1}ᵀ
    to ∂L/∂W_hh with their running sums. `final` compares the sums with the layer's backward.
    """
    who = "bptt-flow"
    models = _check_models(models, who)
    vocab = models.tiny_vocab
    text = _check_text(text, who, "text", 2, 12, vocab)
    with models.lock:
        run = elman_bptt(models.tiny_rnn, vocab, text)
        W_hh = models.tiny_rnn.layers[0].params["weight_hh"].astype(np.float64)
    T = run["T"]
    forward = [
        {
            "t": t,
            "token": text[t],
            "target": text[t + 1],
            "h": _rl(run["hs"][t]),
            "loss": _r(run["step_loss"][t]),
        }
        for t in range(T)
    ]
    backward = []
    sums = {k: np.zeros_like(v) for k, v in run["full"].items()}
    for t in range(T - 1, -1, -1):
        b = run["back"][t]
        for key in sums:
            sums[key] += b[key]
        backward.append(
            {
                "t": t,
                "dh": _rl(b["dh"]),
                "delta": _rl(b["delta"]),
                "dh_from_output": _rl(b["dh_from_output"]),
                "dh_from_next": _rl(b["dh_from_next"]),
                "dW_xh_step_norm": _r(_norm(b["W_xh"])),
                "dW_hh_step_norm": _r(_norm(b["W_hh"])),
                "dW_xh_accum_norm": _r(_norm(sums["W_xh"])),
                "dW_hh_accum_norm": _r(_norm(sums["W_hh"])),
            }
        )
    check = max(float(np.max(np.abs(sums[k] - run["full"][k]))) for k in sums)
    return {
        "view": "bptt-flow",
        "tokens": list(text),
        "hidden_size": len(run["hs"][0]),
        "loss": _r(run["loss"]),
        "W_hh": _rl(W_hh),
        "forward": forward,
        "backward": backward,
        "final": {
            "dW_xh_norm": _r(_norm(run["full"]["W_xh"])),
            "dW_hh_norm": _r(_norm(run["full"]["W_hh"])),
            "dW_hy_norm": _r(_norm(run["full"]["W_hy"])),
            "check_vs_layer_backward": _r(check),
        },
    }


# -- dispatch ------------------------------------------------------------------------------------
FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    "unroll": unroll,
    "hidden-state": hidden_state,
    "weight-sharing": weight_sharing,
    "generation": generation,
    "vanishing-gradients": vanishing_gradients,
    "bptt-flow": bptt_flow,
    "attention": attention_view,
    "forecast": forecast_view,
}


def parameters(view: str) -> dict[str, Any]:
    """The parameters of a view and their defaults, e.g. {"text": "hello"}."""
    if view not in FUNCTIONS:
        raise ValueError(f"unknown view {view!r:.40}; expected one of {list(VIEWS)}")
    sig = inspect.signature(FUNCTIONS[view])
    return {
        name: (list(p.default) if isinstance(p.default, tuple) else p.default)
        for name, p in list(sig.parameters.items())[1:]
    }


def _from_string(view: str, name: str, value: str, default: Any) -> Any:
    """A parameter that arrived as text (an URL query) converted to its default's type."""
    if isinstance(default, str):
        return value
    if name == "clip":
        return None if value.strip().lower() in ("", "none", "null") else _number(view, name, value)
    if isinstance(default, list):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(default, bool):
        return value
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{view}: expected {name} to be an int, got {value!r:.40}") from None
    return _number(view, name, value)


def _number(view: str, name: str, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"{view}: expected {name} to be a number, got {value!r:.40}") from None


def compute(
    view: str, models: ExplorerModels, params: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Run view `view` with `params` (keyword arguments of its function).

    Unknown views and unknown parameter names raise ValueError. Values of the right JSON type
    pass through to the view's checks; strings (from an URL query) are converted to the
    parameter's type first: "0.8" → 0.8, "rnn,gru" → ["rnn", "gru"], "" or "none" → None for
    clip.
    """
    if not isinstance(view, str) or view not in FUNCTIONS:
        raise ValueError(f"unknown view {view!r:.40}; expected one of {list(VIEWS)}")
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValueError(
            f"{view}: expected the parameters as an object, got {type(params).__name__}"
        )
    defaults = parameters(view)
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(
            f"{view}: unknown parameter(s) {unknown}; expected some of {sorted(defaults)}"
        )
    kwargs = {
        k: (_from_string(view, k, v, defaults[k]) if isinstance(v, str) else v)
        for k, v in params.items()
    }
    return FUNCTIONS[view](models, **kwargs)


__all__ = [
    "CELLS",
    "FUNCTIONS",
    "INITS",
    "VIEWS",
    "bptt_flow",
    "compute",
    "generation",
    "hidden_state",
    "parameters",
    "unroll",
    "vanishing_gradients",
    "weight_sharing",
]
