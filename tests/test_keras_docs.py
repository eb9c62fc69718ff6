"""docs/keras.md's Python examples run as written (the issue's code; the seq2seq tutorial)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

import rnnlab

DOC = Path(__file__).resolve().parent.parent / "docs" / "keras.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def test_the_walkthrough_code_runs_and_prints_the_table_it_shows(capsys):
    code = blocks()[0]
    rnnlab.config.set_seed(0)
    namespace: dict = {}
    exec(compile(code, str(DOC), "exec"), namespace)  # our own documentation
    out = capsys.readouterr().out
    shown = re.search(r"```\n(Model: \"sequential.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    table = shown.group(1).strip().splitlines()
    printed = out.splitlines()
    start = printed.index(table[0].replace("sequential", namespace["model_rnn"].name))
    for want, got in zip(table[1:], printed[start + 1 :], strict=False):
        want = want.replace("simple_rnn_1", "§").replace("simple_rnn", "§")
        got = re.sub(r"simple_rnn(_\d+)?", "§", re.sub(r"dense(_\d+)?", "dense", got))
        assert got.replace(" ", "") == want.replace(" ", "")


def test_the_seq2seq_example_runs():
    code = blocks()[1]
    rng = np.random.default_rng(0)
    n, steps, tokens = 32, 4, 5
    eye = np.eye(tokens, dtype=np.float32)
    namespace = {
        "layers": rnnlab.layers,
        "models": rnnlab.models,
        "latent_dim": 8,
        "num_encoder_tokens": tokens,
        "num_decoder_tokens": tokens,
        "encoder_input_data": eye[rng.integers(0, tokens, (n, steps))],
        "decoder_input_data": eye[rng.integers(0, tokens, (n, steps))],
        "decoder_target_data": eye[rng.integers(0, tokens, (n, steps))],
    }
    code = code.replace("epochs=100", "epochs=2").replace("model.fit(", "history = model.fit(")
    exec(compile(code, str(DOC), "exec"), namespace)
    assert len(namespace["history"].history["val_accuracy"]) == 2
