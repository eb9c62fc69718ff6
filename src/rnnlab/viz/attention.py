"""The explorer's attention view: a trained seq2seq model (from `rnnlab task g2p` or `rnnlab
task translate`) reads a word or a sentence, and the page shows, for greedy search and for
beam search side by side, the output and the attention weights α_ts of every output token t
over the source tokens s (rows sum to 1; the last row is EOS when the output ended, the last
column the source's EOS marker).

The numbers are the library's: the model directory is read by
`rnnlab.tasks.seq2seq_train.load_model_dir` and decoded by its `decode` (the same call as
`rnnlab g2p` / `rnnlab translate --attention`), so the page and the commands agree.

Which models: the directories given to the explorer (`rnnlab explore --seq2seq DIR`, kept in
`models.seq2seq_dirs`, a list of paths;
each a model directory or a folder holding some), else `runs/` and `results/` under the
current directory, searched two levels deep for a `model.json` of task g2p or translate. The
page picks a model by its name (the path as found); no request names a file.
"""

from __future__ import annotations

import json
import math
import numbers
from pathlib import Path
from typing import Any

import numpy as np

from ..datasets import tatoeba
from ..tasks.g2p import word_tokens
from ..tasks.seq2seq_train import META_NAME, MODEL_NAME, decode, load_model_dir

VIEW = "attention"
TASKS = ("g2p", "translate")
DEFAULT_ROOTS = (Path("runs"), Path("results"))
DEFAULT_TEXT = {"g2p": "phoneme", "translate": "I have to go to sleep."}
MAX_CHARS = 200
MAX_SOURCE_TOKENS = 60
MAX_BEAM = 10
EOS = "</s>"
HINT = (
    "No trained seq2seq model found. Train one with `rnnlab task g2p --out runs/g2p` or "
    "`rnnlab task translate`, then restart `rnnlab explore` from the same folder (it looks in "
    "runs/ and results/)."
)

_cache: dict[Path, tuple[float, tuple]] = {}


# -- finding and loading models -------------------------------------------------------------------
def _task_of(folder: Path) -> str | None:
    """The task of a seq2seq model directory, or None if `folder` is not one."""
    meta = folder / META_NAME
    if not (meta.is_file() and (folder / MODEL_NAME).is_file()):
        return None
    try:
        task = json.loads(meta.read_text(encoding="utf-8")).get("task")
    except (OSError, ValueError, AttributeError):
        return None
    return task if task in TASKS else None


def find_models(roots) -> dict[str, tuple[Path, str]]:
    """{name: (directory, task)} of the seq2seq model directories in or under `roots` (two
    levels deep), sorted by name; the name is the directory's path as found."""
    found: dict[str, tuple[Path, str]] = {}
    for root in roots:
        root = Path(root)
        if not root.is_dir():
            continue
        candidates = [root, *sorted(root.glob("*")), *sorted(root.glob("*/*"))]
        for folder in candidates:
            task = _task_of(folder) if folder.is_dir() else None
            if task is not None:
                found.setdefault(folder.as_posix(), (folder, task))
    return dict(sorted(found.items()))


def available(models) -> dict[str, tuple[Path, str]]:
    """The models the view offers (module docstring)."""
    given = getattr(models, "seq2seq_dirs", None)
    return find_models(DEFAULT_ROOTS if given is None else given)


def _load(folder: Path, task: str) -> tuple:
    """(model, source_vocab, target_vocab, extra), reloaded when the model file changes."""
    key = folder.resolve()
    stamp = (folder / MODEL_NAME).stat().st_mtime
    hit = _cache.get(key)
    if hit is None or hit[0] != stamp:
        hit = (stamp, load_model_dir(folder, task))
        _cache[key] = hit
    return hit[1]


# -- text in, tokens out --------------------------------------------------------------------------
def source_tokens(task: str, text: str) -> list[str]:
    """The source tokens a task's model reads: a g2p word's lower-case characters, a
    sentence's Tatoeba tokens (the tokeniser `rnnlab task translate` trained with)."""
    if task == "g2p":
        word = text.strip().lower()
        if any(ch.isspace() for ch in word):
            raise ValueError(f"{VIEW}: a g2p model reads one word, got {text!r:.60}")
        return word_tokens(word)
    return tatoeba.tokenize(text)


def output_text(task: str, tokens: list[str]) -> str:
    return " ".join(tokens) if task == "g2p" else tatoeba.detokenize(tokens)


def _check(models, model, text, beam) -> tuple[str, int]:
    if not isinstance(model, str) or len(model) > 500:
        raise ValueError(f"{VIEW}: expected model to be a model name (str), got {model!r:.60}")
    if not isinstance(text, str):
        raise ValueError(f"{VIEW}: expected text to be a string, got {type(text).__name__}")
    if len(text) > MAX_CHARS:
        raise ValueError(
            f"{VIEW}: expected text of at most {MAX_CHARS} characters, got {len(text)}"
        )
    if (
        isinstance(beam, bool)
        or not isinstance(beam, numbers.Integral)
        or not 1 <= beam <= MAX_BEAM
    ):
        raise ValueError(f"{VIEW}: expected beam to be an int in [1, {MAX_BEAM}], got {beam!r}")
    return text, int(beam)


def _rounded(a: np.ndarray) -> list[list[float]]:
    return [[float(f"{float(v):.4g}") if math.isfinite(v) else 0.0 for v in row] for row in a]


def _side(task: str, hyp, n_cols: int) -> dict[str, Any]:
    """One search's answer: tokens, text, score and the attention rows (row labels too)."""
    att = hyp.attention
    rows = [] if att is None else _rounded(np.asarray(att, dtype=np.float64)[:, :n_cols])
    labels = list(hyp.tokens) + ([EOS] if len(rows) > len(hyp.tokens) else [])
    return {
        "tokens": list(hyp.tokens),
        "text": output_text(task, hyp.tokens),
        "score": float(f"{hyp.score:.5g}"),
        "rows": labels[: len(rows)] if rows else labels,
        "attention": rows,
        "ended": len(rows) > len(hyp.tokens) if rows else None,
    }


# -- the view -------------------------------------------------------------------------------------
def attention_view(models, model: str = "", text: str = "", beam: int = 5) -> dict[str, Any]:
    """Greedy and beam-search outputs of a seq2seq model for `text`, with their attention.

    Arguments: model: a name from the list the view returns ("" = the first); text: a word
    (g2p) or a sentence (translate), "" = the task's example; beam: the beam width (1–10).
    """
    text, beam = _check(models, model, text, beam)
    found = available(models)
    listing = [{"name": name, "task": task} for name, (_, task) in found.items()]
    if not found:
        if model:
            raise ValueError(f"{VIEW}: no seq2seq models are available, so none is {model!r:.60}")
        return {"view": VIEW, "models": [], "model": None, "hint": HINT, "beam_width": beam}
    if model and model not in found:
        raise ValueError(f"{VIEW}: unknown model {model!r:.60}; expected one of {sorted(found)}")
    name = model or next(iter(found))
    folder, task = found[name]
    text = text if text.strip() else DEFAULT_TEXT[task]
    tokens = source_tokens(task, text)
    if not tokens:
        raise ValueError(f"{VIEW}: expected some text to read, got {text!r:.60}")
    if len(tokens) > MAX_SOURCE_TOKENS:
        raise ValueError(f"{VIEW}: expected at most {MAX_SOURCE_TOKENS} tokens, got {len(tokens)}")
    with models.lock:
        net, src_vocab, tgt_vocab, _ = _load(folder, task)
        greedy, best = (
            decode(net, src_vocab, tgt_vocab, [tokens], beam_width=k, return_attention=True)[0]
            for k in (1, beam)
        )
    has_attention = greedy.attention is not None
    columns = [t if t in src_vocab.stoi else "<oov>" for t in tokens] + [EOS]
    return {
        "view": VIEW,
        "models": listing,
        "model": name,
        "task": task,
        "text": text,
        "source": columns,
        "unknown": list(dict.fromkeys(greedy.unknown)),
        "beam_width": beam,
        "has_attention": has_attention,
        "attention_type": net.decoder.attention_name,
        "greedy": _side(task, greedy, len(columns)),
        "beam": _side(task, best, len(columns)),
        "agree": greedy.tokens == best.tokens,
    }
