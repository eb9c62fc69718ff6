"""A trained seq2seq model's directory: DIR/model.safetensors (the Seq2Seq) beside
DIR/model.json ({"task", "source_vocab", "target_vocab", "model_sha256", "extra"}), so that the
interactive commands and the explorer get the model with its vocabularies, and refuse a model of
another task or a model file that is not the one its vocabularies were saved with.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from .. import io
from ..seq2seq import Seq2Seq, Vocabulary

MODEL_NAME = "model.safetensors"
META_NAME = "model.json"


def save_model_dir(
    out: str | Path,
    task: str,
    model: Seq2Seq,
    source_vocab: Vocabulary,
    target_vocab: Vocabulary,
    extra: dict[str, Any] | None = None,
) -> Path:
    """DIR/model.safetensors (the Seq2Seq) and DIR/model.json ({"task", vocabularies, the model
    file's sha256, extra}), both atomic; returns the model file's path."""
    out = Path(out)
    path = out / MODEL_NAME
    model.save(path)
    meta = {
        "task": task,
        "source_vocab": source_vocab.get_config()["tokens"],
        "target_vocab": target_vocab.get_config()["tokens"],
        "model_sha256": _sha256(path),
        "extra": extra or {},
    }
    io.atomic_write(out / META_NAME, json.dumps(meta, ensure_ascii=False) + "\n")
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_model_dir(model_dir: str | Path, task: str):
    """(model, source_vocab, target_vocab, extra) of a directory save_model_dir wrote for
    `task`; a clear error for a missing directory, another task, or files that do not belong
    together (a model file replaced or a vocabulary of another size)."""
    d = Path(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f"--model {d}: no such directory (expected the --out of a run)")
    meta_path, path = d / META_NAME, d / MODEL_NAME
    for p in (meta_path, path):
        if not p.is_file():
            raise FileNotFoundError(
                f"--model {d}: {p.name} not found (is it the --out of a finished `rnnlab task "
                f"{task}` run?)"
            )
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        got_task = meta["task"]
        src_tokens, tgt_tokens = meta["source_vocab"], meta["target_vocab"]
    except (ValueError, KeyError, TypeError) as err:
        raise io.FormatError(f"{meta_path}: not a model description ({err})") from None
    if got_task != task:
        raise io.FormatError(f"{d}: a model of task {got_task!r}, not {task!r}")
    if meta.get("model_sha256") != _sha256(path):
        raise io.FormatError(
            f"{d}: {MODEL_NAME} is not the file {META_NAME} describes (sha256 differs): the "
            f"vocabularies belong to another model"
        )
    model = io.load_model(path)
    if not isinstance(model, Seq2Seq):
        raise io.FormatError(f"{path}: expected a Seq2Seq model, got {type(model).__name__}")
    src_vocab, tgt_vocab = Vocabulary(src_tokens), Vocabulary(tgt_tokens)
    if (len(src_vocab), len(tgt_vocab)) != (model.encoder.vocab_size, model.decoder.vocab_size):
        raise io.FormatError(
            f"{d}: vocabularies of {len(src_vocab)} / {len(tgt_vocab)} tokens for a model of "
            f"{model.encoder.vocab_size} / {model.decoder.vocab_size}"
        )
    return model, src_vocab, tgt_vocab, meta.get("extra", {})
