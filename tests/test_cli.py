"""The `rnnlab` command: train, sample, info, data; one-line errors; kill and resume."""

import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import rnnlab
from rnnlab.cli import main

WORDS = (
    "the king and queen of night shall speak to thee my lord what light through yonder "
    "window breaks it is the east"
).split()


def _text(path: Path, n_lines: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    lines = [" ".join(rng.choice(WORDS, size=rng.integers(3, 9))) for _ in range(n_lines)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


SMALL = [
    "--units",
    "16",
    "--embedding",
    "8",
    "--batch-size",
    "4",
    "--k1",
    "16",
    "--segment-length",
    "64",
    "--eval-every",
    "10",
    "--quiet",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    text = _text(tmp / "words.txt", 400)
    out = tmp / "model.safetensors"
    result = CliRunner().invoke(
        main, ["train", "--text", str(text), "--epochs", "2", "--out", str(out), *SMALL]
    )
    assert result.exit_code == 0, result.output
    assert "validation loss:" in result.output
    return out


def test_train_saves_a_loadable_model(trained):
    model = rnnlab.load_model(trained)
    assert "vocab" in model.metadata and model.metadata["validation_loss"] > 0
    result = CliRunner().invoke(main, ["info", str(trained)])
    assert result.exit_code == 0
    assert "Embedding, LSTM, Dense" in result.output and "parameters:" in result.output
    vocab_size = len(model.metadata["vocab"]["chars"])
    assert f"vocabulary: {vocab_size} characters" in result.output
    assert "lstm_0.weight_ih                         F32   (64, 8)" in result.output


def test_sample_is_deterministic_for_a_seed(trained):
    runner = CliRunner()
    args = ["sample", str(trained), "--prime", "the ", "--length", "60"]
    a = runner.invoke(main, [*args, "--seed", "1"])
    b = runner.invoke(main, [*args, "--seed", "1"])
    c = runner.invoke(main, [*args, "--seed", "2"])
    assert a.exit_code == 0 and a.output == b.output and a.output != c.output
    assert a.output.startswith("the ") and len(a.output.rstrip("\n")) >= 60
    top = runner.invoke(
        main, [*args, "--seed", "3", "--top-k", "3", "--top-p", "0.9", "--temperature", "0.5"]
    )
    assert top.exit_code == 0


def test_the_cell_option_names_a_registered_family(tmp_path):
    text = _text(tmp_path / "words.txt", 200)
    out = tmp_path / "gru.safetensors"
    result = CliRunner().invoke(
        main,
        ["train", "--text", str(text), "--epochs", "1", "--cell", "gru", "--out", str(out), *SMALL],
    )
    assert result.exit_code == 0, result.output
    model = rnnlab.load_model(out)
    assert [type(layer).__name__ for layer in model.layers] == ["Embedding", "GRU", "Dense"]
    assert model.metadata["settings"]["cell"] == "gru"


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--epochs", "1"], "give exactly one of --data NAME or --text FILE"),
        (["train", "--data", "nope", "--epochs", "1"], "unknown dataset"),
        (["sample", "missing.safetensors"], "FileNotFoundError"),
        (["info", "."], "FormatError"),
        (["train", "--text", "missing.txt", "--epochs", "1"], "missing.txt"),
        (
            ["train", "--cell", "jordan", "--epochs", "1"],
            "'jordan' is not one of 'gru', 'gru_reset_before', 'lru', 'lstm'",
        ),
    ],
)
def test_errors_are_one_line_with_exit_code_2(args, message):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert message.lower() in result.output.lower()
    assert "Traceback" not in result.output


def test_unsafe_files_are_refused(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil = tmp_path / "evil.safetensors"
    evil.write_bytes(pickle.dumps(Payload()))
    for command in (["sample", str(evil)], ["info", str(evil)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2 and "FormatError" in result.output
    assert not marker.exists()


def test_sampling_options_are_checked(trained):
    result = CliRunner().invoke(main, ["sample", str(trained), "--temperature", "-1"])
    assert result.exit_code == 2 and "temperature" in result.output
    result = CliRunner().invoke(main, ["sample", str(trained), "--prime", "Ωx"])
    assert result.exit_code == 2 and result.output.startswith("error: ")  # nothing printed first
    assert "'Ω'" in result.output


def test_debug_shows_the_traceback():
    result = CliRunner().invoke(main, ["--debug", "sample", "missing.safetensors"])
    assert result.exit_code != 0 and isinstance(result.exception, FileNotFoundError)


def test_data_list_names_shakespeare():
    result = CliRunner().invoke(main, ["data", "list"])
    assert result.exit_code == 0 and "shakespeare" in result.output and "MIT" in result.output


def _train_cmd(text, out, ckpt, *extra):
    return [
        sys.executable,
        "-m",
        "rnnlab.cli",
        "train",
        "--text",
        str(text),
        "--epochs",
        "3",
        "--out",
        str(out),
        "--checkpoint-dir",
        str(ckpt),
        "--checkpoint-every",
        "5",
        "--layers",
        "2",
        "--dropout",
        "0.2",
        "--k2",
        "24",
        *SMALL,
        "--eval-every",
        "1000",
        *extra,
    ]


def test_killed_run_resumes_to_bit_identical_weights(tmp_path):
    text = _text(tmp_path / "words.txt", 1500, seed=1)
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    straight = tmp_path / "straight.safetensors"
    subprocess.run(
        _train_cmd(text, straight, tmp_path / "ck_straight"),
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )

    ckpt = tmp_path / "ck_killed"
    resumed = tmp_path / "resumed.safetensors"
    proc = subprocess.Popen(
        _train_cmd(text, resumed, ckpt),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not (ckpt / "checkpoint.safetensors").exists():
        assert proc.poll() is None, "training ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    assert not resumed.exists()
    _, state = rnnlab.io.load_checkpoint(ckpt / "checkpoint.safetensors")
    assert 0 < state["progress"]["steps"] and state["progress"]["epoch"] == 0  # mid-epoch

    subprocess.run(
        _train_cmd(text, resumed, ckpt, "--resume"),
        check=True,
        env=env,
        capture_output=True,
        timeout=600,
    )
    a, b = rnnlab.load_model(straight), rnnlab.load_model(resumed)
    for key, value in a.named_params().items():
        np.testing.assert_array_equal(b.named_params()[key], value, err_msg=key)
