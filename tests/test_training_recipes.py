"""The training recipes: train_char_lm (the CLI's, the demo's and the explorer's) and
train_sentiment, on small generated data: what they return, report, save and refuse."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import rnnlab
from rnnlab.datasets import CharVocab, Document, TextCorpus
from rnnlab.datasets.sentiment import Snippet, make_dataset
from rnnlab.training import (
    CharLMRun,
    CharLMSettings,
    SentimentSettings,
    train_char_lm,
    train_sentiment,
)
from rnnlab.training.charlm import CHECKPOINT_NAME, evaluation_streams, head
from rnnlab.training.sentiment import encode_sentences, sentiment_accuracy

WORDS = "the king and queen of night shall speak to thee my lord".split()
SMALL = CharLMSettings(units=12, embedding=6, batch_size=4, k1=16, segment_length=64, seed=3)


def _corpus(n_docs: int = 6, n_lines: int = 60, seed: int = 0) -> TextCorpus:
    rng = np.random.default_rng(seed)
    docs = [
        Document(
            f"d{i}",
            "\n".join(" ".join(rng.choice(WORDS, size=rng.integers(3, 8))) for _ in range(n_lines))
            + "\n",
        )
        for i in range(n_docs)
    ]
    return TextCorpus("words", docs[:-1], docs[-1:])


# -- the char recipe -------------------------------------------------------------------------------
def test_train_char_lm_reports_saves_and_scores_what_it_says():
    corpus = _corpus()
    lines, calls = [], []
    run = train_char_lm(
        corpus,
        SMALL,
        epochs=2,
        eval_every=5,
        probe_chars=500,
        on_progress=lambda p, n: calls.append((p.steps, n)),
        log=lines.append,
    )
    assert isinstance(run, CharLMRun) and run.settings == SMALL and run.progress.epoch == 2
    windows = calls[0][1]
    assert calls == [(i + 1, windows) for i in range(2 * windows)]  # after every update
    assert [line.split(":")[0].split()[0] for line in lines] == [
        "data",
        "model",
        "trained",
        "evaluated",
    ]
    assert lines[0].startswith("data: words, ") and "(LSTM 12 × 1)" in lines[1]
    # the history: the probe every 5 updates and at each epoch's end
    steps = [h["step"] for h in run.progress.history]
    assert steps == sorted({*range(5, 2 * windows + 1, 5), windows, 2 * windows})
    # the vocabulary: every character of the corpus; the final loss: the whole validation split
    assert run.vocab == CharVocab.from_text(corpus.text("train") + corpus.text("validation"))
    val = evaluation_streams([d.text for d in corpus.validation], run.vocab)
    assert run.val_loss == pytest.approx(run.trainer.evaluate(val), rel=1e-12)
    assert 0 < run.val_loss < math.log(len(run.vocab))  # it learned something
    meta = run.model.metadata
    assert meta["dataset"] == "words" and meta["settings"] == SMALL.to_config()
    assert meta["validation_loss"] == round(run.val_loss, 4)
    assert meta["trained_chars"] == run.progress.tokens
    assert CharVocab.from_config(meta["vocab"]) == run.vocab


def test_train_char_lm_final_chars_and_no_probe():
    corpus = _corpus()
    run = train_char_lm(corpus, SMALL, max_steps=4, eval_every=None, final_chars=300, source="mine")
    assert run.progress.steps == 4 and run.progress.history == []
    assert run.model.metadata["dataset"] == "mine"
    part = evaluation_streams(
        head([d.text for d in corpus.validation], 300), run.vocab, n_streams=8
    )
    assert part.n_tokens == 299
    assert run.val_loss == pytest.approx(run.trainer.evaluate(part), rel=1e-12)


def test_train_char_lm_resumes_to_bit_identical_weights(tmp_path):
    corpus = _corpus(seed=1)
    settings = dataclasses.replace(SMALL, layers=2, dropout=0.2, k2=24)
    straight = train_char_lm(
        corpus,
        settings,
        max_steps=9,
        eval_every=None,
        checkpoint_dir=tmp_path / "a",
        checkpoint_every=3,
    )
    first = train_char_lm(
        corpus,
        settings,
        max_steps=5,
        eval_every=None,
        checkpoint_dir=tmp_path / "b",
        checkpoint_every=3,
    )
    assert first.progress.steps == 5
    lines = []
    resumed = train_char_lm(
        corpus,
        CharLMSettings(),
        max_steps=9,
        eval_every=None,
        checkpoint_dir=tmp_path / "b",
        resume=True,
        log=lines.append,
    )
    assert lines[0] == f"resuming from {tmp_path / 'b' / CHECKPOINT_NAME} at step 5"
    assert resumed.settings == settings  # the checkpoint's, not the ones passed
    assert resumed.progress.steps == 9
    for key, value in straight.model.named_params().items():
        np.testing.assert_array_equal(resumed.model.named_params()[key], value, err_msg=key)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({}, ValueError, "expected epochs, seconds or max_steps"),
        ({"max_steps": 1, "resume": True}, ValueError, "resume=True needs a checkpoint_dir"),
        ({"max_steps": 1, "settings": CharLMSettings(batch_size=10**6)}, ValueError, "cannot fill"),
        ({"max_steps": 1, "settings": CharLMSettings(cell="jordan")}, ValueError, "units alone"),
    ],
)
def test_train_char_lm_refuses_bad_arguments(kwargs, error, message):
    kwargs = {"settings": SMALL, **kwargs}
    with pytest.raises(error, match=message):
        train_char_lm(_corpus(), **kwargs)
    with pytest.raises(TypeError, match="expected a TextCorpus, got str"):
        train_char_lm("some text", SMALL, max_steps=1)


def test_the_cell_is_a_class_from_the_settings_down_and_a_name_in_files(tmp_path):
    from rnnlab.cells import GRUCell, LSTMCell, SimpleRNNCell
    from rnnlab.training.charlm import char_lm_cells

    families = char_lm_cells()
    assert {"gru": GRUCell, "lstm": LSTMCell, "rnn": SimpleRNNCell}.items() <= families.items()
    assert "jordan" not in families  # its layer needs output_units too
    settings = CharLMSettings(cell="gru", units=8)  # a name resolves once, here
    assert settings.cell is GRUCell and CharLMSettings().cell is LSTMCell
    config = settings.to_config()
    assert config["cell"] == "gru" and CharLMSettings.from_config(config) == settings
    with pytest.raises(ValueError, match="unknown cell 'lstm2'"):
        CharLMSettings(cell="lstm2")
    with pytest.raises(ValueError, match="takes units alone, one of"):
        CharLMSettings(cell="jordan").validate()
    run = train_char_lm(
        _corpus(),
        dataclasses.replace(SMALL, cell=SimpleRNNCell),
        max_steps=2,
        eval_every=None,
        checkpoint_dir=tmp_path,
    )
    assert [type(layer).__name__ for layer in run.model.layers] == [
        "Embedding",
        "SimpleRNN",
        "Dense",
    ]
    assert run.model.layers[1].name == "rnn_0"
    assert run.model.metadata["settings"]["cell"] == "rnn"
    _, state = rnnlab.io.load_checkpoint(tmp_path / CHECKPOINT_NAME)
    assert state["settings"]["cell"] == "rnn"


# -- the sentiment recipe --------------------------------------------------------------------------
def _sentiment_data(n: int = 600, seed: int = 0):
    """Sentences whose label is whether they contain 'great' (and never 'awful')."""
    rng = np.random.default_rng(seed)
    filler = "the a movie film was is and of to it this plot acting story".split()
    snippets = []
    for i in range(n):
        words = list(rng.choice(filler, size=rng.integers(2, 12)))
        label = int(i % 2)
        words.insert(int(rng.integers(0, len(words) + 1)), "great" if label else "awful")
        snippets.append(Snippet(i, " ".join(words), 2.0 if label else -2.0, label))
    return make_dataset(snippets, 0.2, seed=0)


def test_train_sentiment_learns_keeps_the_best_epoch_and_saves_its_vocabulary(tmp_path):
    data = _sentiment_data()
    lines = []
    settings = SentimentSettings(units=8, embedding=8, max_epochs=4, seed=1)
    run = train_sentiment(data, settings, log=lines.append)
    assert run.epochs == 4 and lines[0].startswith("training sentiment: GRU(8)")
    assert run.accuracy > 0.95
    x_val = encode_sentences(data.texts("validation"), run.words, settings.max_words)
    assert run.accuracy == sentiment_accuracy(run.model, x_val, data.labels("validation"))
    meta = run.model.metadata
    assert meta["validation_accuracy"] == round(run.accuracy, 4)
    assert meta["words"] == run.words.to_config() and meta["labels"] == ["negative", "positive"]
    assert run.model.optimizer is None  # dropped: the file holds what runs the model
    run.model.save(tmp_path / "s.safetensors")
    again = rnnlab.load_model(tmp_path / "s.safetensors")
    np.testing.assert_array_equal(again.predict(x_val[0][None]), run.model.predict(x_val[0][None]))


def test_train_sentiment_stops_after_one_epoch_when_out_of_time_and_refuses_bad_input():
    data = _sentiment_data(200)
    run = train_sentiment(
        data, SentimentSettings(units=4, embedding=4, max_epochs=50), seconds=1e-6
    )
    assert run.epochs == 1
    with pytest.raises(ValueError, match="expected seconds > 0"):
        train_sentiment(data, seconds=0)
    with pytest.raises(ValueError, match="expected units to be a positive int"):
        train_sentiment(data, SentimentSettings(units=0))
    with pytest.raises(TypeError, match="expected a SentimentDataset"):
        train_sentiment([("great", 1)])
