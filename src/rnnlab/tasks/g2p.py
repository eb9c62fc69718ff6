"""`rnnlab task g2p`: grapheme-to-phoneme conversion on CMUdict with an attentional seq2seq.

Characters in, ARPAbet phonemes out ("phoneme" → F OW N IY M). The data is CMUdict
(`rnnlab.datasets.load_cmudict`: stress stripped, 39 phonemes, 12,000 test words and 2,000
validation words drawn by a seeded permutation); the model a bidirectional-encoder Seq2Seq
trained by the shared `tasks.seq2seq_train.Seq2SeqTrainer` within the time budget, on one
example per (word, pronunciation). The weights of the lowest validation loss are evaluated on
the test words by greedy search and by beam search; a word is right when the output equals any
of its pronunciations (`tasks.g2p_metrics`: PER against the closest one, WER = no exact match).

    rnnlab task g2p --seconds 600 --out runs/g2p             # train, evaluate, save
    rnnlab g2p --model runs/g2p phoneme --attention           # pronounce, with attention

DIR/results.json: {"task": "g2p", "metrics": {"per", "wer", "per_greedy", "wer_greedy"}
(beam search, and greedy), "baselines": {"published": the marks of Yao & Zweig 2015 and
Sequitur G2P, not re-run}, "config", "seconds" (training), "examples"}; DIR/report.md;
DIR/model.safetensors + DIR/model.json (the model and its vocabularies).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path
from typing import Any, TextIO

import click

from .._validation import check_choice, describe
from ..datasets.cmudict import CMUDict, G2PEntry, load_cmudict
from ..layers import cells_by_units
from ..seq2seq import Vocabulary
from .g2p_metrics import G2PScore, score
from .run import (
    CHECKPOINT_NAME,
    Budget,
    ProgressLine,
    markdown_table,
    prepare_out,
    write_report,
    write_results,
)
from .seq2seq_train import (
    Decoded,
    Seq2SeqSettings,
    Seq2SeqTrainer,
    decode,
    load_model_dir,
    save_model_dir,
)

TASK = "g2p"
#: --attention names → the Decoder's attention ("luong" is Luong's general score)
ATTENTION_CHOICES = {
    "bahdanau": "bahdanau",
    "luong": "general",
    "general": "general",
    "dot": "dot",
    "none": None,
}
CELLS = tuple(cells_by_units())  # every family a layer can be made of from `units` alone
#: published marks on CMUdict (their split: 106,837 train / 12,000 test words, no stress)
PUBLISHED = {
    "yao_zweig_2015_bilstm": {"per": 0.0545, "wer": 0.2355},
    "sequitur_g2p": {"wer": 0.245},
}
N_EXAMPLES = 20


def g2p_settings(
    cell: str = "gru", attention: str = "luong", seed: int = 0, **overrides: Any
) -> Seq2SeqSettings:
    """The task's model and training settings: a bidirectional GRU encoder (256 units a side)
    and GRU decoder (256), 64-d embeddings, Luong's general attention without input feeding
    (the fast whole-sequence path), Adam 2e-3, clip norm 5, batches of 64."""
    check_choice(cell, "g2p", "cell", CELLS)
    check_choice(attention, "g2p", "attention", tuple(ATTENTION_CHOICES))
    base = {
        "cell": cell,
        "embed_dim": 64,
        "units": 256,
        "bidirectional": True,
        "attention": ATTENTION_CHOICES[attention],
        "input_feeding": False,
        "batch_size": 64,
        "learning_rate": 2e-3,
        "validate_every": 250,
        "patience": 2,
        "seed": seed,
    }
    base.update(overrides)
    return Seq2SeqSettings(**base)


def word_tokens(word: str) -> list[str]:
    """The source tokens of a word: its characters."""
    return list(word)


def _pairs(entries: list[G2PEntry]) -> tuple[list[list[str]], list[list[str]]]:
    src, tgt = [], []
    for e in entries:
        for p in e.prons:
            src.append(word_tokens(e.word))
            tgt.append(list(p))
    return src, tgt


def build_vocabularies(data: CMUDict) -> tuple[Vocabulary, Vocabulary]:
    """Characters and phonemes of the training words (sorted by frequency, then name)."""
    src, tgt = _pairs(data.train)
    return Vocabulary.build(src), Vocabulary.build(tgt)


def evaluate(
    model, source_vocab: Vocabulary, target_vocab: Vocabulary, entries: list[G2PEntry], **kw
) -> tuple[G2PScore, list[Decoded]]:
    """PER/WER of `model` on `entries` (greedy: beam_width=1, the default of `decode`)."""
    words = [word_tokens(e.word) for e in entries]
    hyps = decode(model, source_vocab, target_vocab, words, batch_size=256, **kw)
    return score([h.tokens for h in hyps], [e.prons for e in entries]), hyps


def _examples(entries, greedy, beam, n: int) -> list[dict[str, Any]]:
    step = max(1, len(entries) // n)
    out = []
    for k in range(0, min(len(entries), step * n), step):
        e = entries[k]
        out.append(
            {
                "word": e.word,
                "references": [" ".join(p) for p in e.prons],
                "beam": " ".join(beam[k].tokens),
                "greedy": " ".join(greedy[k].tokens),
                "beam_correct": tuple(beam[k].tokens) in e.prons,
            }
        )
    return out


def attention_text(
    source: list[str], output: list[str], attention, *, width: int = 5, eos: str = "</s>"
) -> str:
    """The attention matrix as text: one row per output token (and EOS), one column per source
    token (and the source's EOS), weights in percent."""
    cols = [*source, eos][: attention.shape[1]]
    rows = [*output, eos][: attention.shape[0]]
    lead = max(len(r) for r in rows) + 1
    lines = [" " * lead + "".join(f"{c:>{width}}" for c in cols)]
    for name, weights in zip(rows, attention, strict=True):
        cells = "".join(f"{round(100 * float(w)):>{width}d}" for w in weights)
        lines.append(f"{name:<{lead}}{cells}")
    return "\n".join(lines)


def _report(record: dict[str, Any], data: CMUDict, attention_example: str | None) -> str:
    m, cfg = record["metrics"], record["config"]
    rows = [
        [f"this run, beam search (width {cfg['beam_width']})", 100 * m["per"], 100 * m["wer"]],
        ["this run, greedy", 100 * m["per_greedy"], 100 * m["wer_greedy"]],
        ["Yao & Zweig 2015, BiLSTM encoder–decoder", 5.45, 23.55],
        ["Sequitur G2P (Bisani & Ney 2008)", "", 24.5],
    ]
    lines = [
        "# g2p: grapheme-to-phoneme conversion on CMUdict",
        "",
        f"{data.summary()}; {cfg['test_words']:,} test words evaluated.",
        f"Model: {cfg['cell'].upper()} {cfg['units']} units, bidirectional encoder, attention "
        f"{cfg['attention']}; trained {record['seconds']:.0f} s ({cfg['steps']:,} steps, "
        f"{cfg['epochs_seen']:.2f} epochs), best validation loss {cfg['best_val_loss']:.4f} "
        f"at step {cfg['best_step']:,}; evaluation took {cfg['eval_seconds']:.0f} s.",
        "",
        markdown_table(["system", "PER %", "WER %"], rows),
        "",
        "The published marks are on the older CMUdict split of Bisani & Ney (2008) "
        "(106,837 / 12,000 words); this run's test words are a seeded draw from cmudict 1.1.3, "
        "so the figures compare in spirit, not on identical words. A word counts as right when "
        "the output equals any of its pronunciations.",
        "",
        "## Examples (test words)",
        "",
        markdown_table(
            ["word", "reference(s)", "beam", "greedy"],
            [
                [e["word"], " / ".join(e["references"]), e["beam"], e["greedy"]]
                for e in record["examples"]
            ],
        ),
    ]
    if attention_example:
        word = record["examples"][0]["word"]
        lines += [
            "",
            f"## Attention of {word!r} (%, rows: output phonemes, columns: letters)",
            "",
            "```",
            attention_example,
            "```",
        ]
    return "\n".join(lines) + "\n"


def run_g2p(
    out: str | Path,
    *,
    seconds: float = 600.0,
    cell: str = "gru",
    attention: str = "luong",
    beam_width: int = 5,
    seed: int = 0,
    resume: bool = False,
    home: str | Path | None = None,
    max_steps: int | None = None,
    test_words: int | None = None,
    stream: TextIO | None = None,
    settings_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train, evaluate and save the g2p task into `out` (module docstring); returns the record
    written to results.json. `test_words` evaluates only the first N test words (quick runs);
    `max_steps` stops training early (tests)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        raise ValueError(f"g2p: expected --seconds > 0, got {describe(seconds)}")
    if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
        raise ValueError(f"g2p: expected --beam to be an int ≥ 1, got {describe(beam_width)}")
    say = stream if stream is not None else sys.stderr
    out = prepare_out(out, resume=resume)
    settings = g2p_settings(cell, attention, seed, **(settings_overrides or {}))
    data = load_cmudict(home, seed=seed, progress=lambda m: print(m, file=say))
    src_vocab, tgt_vocab = build_vocabularies(data)
    train, valid = _pairs(data.train), _pairs(data.validation)
    checkpoint = out / CHECKPOINT_NAME
    if resume and checkpoint.is_file():
        trainer = Seq2SeqTrainer.resume(checkpoint, TASK, src_vocab, tgt_vocab, train, valid)
        if trainer.settings != settings:
            theirs, ours = trainer.settings.to_config(), settings.to_config()
            diff = [f"{k}={theirs[k]!r} (asked {ours[k]!r})" for k in ours if theirs[k] != ours[k]]
            raise ValueError(
                f"--resume: {checkpoint} was trained with {', '.join(diff)}; resume with the "
                f"same options or start a new --out"
            )
        print(f"g2p: resuming at step {trainer.step} ({trainer.seconds:.0f} s spent)", file=say)
    else:
        trainer = Seq2SeqTrainer(TASK, settings, src_vocab, tgt_vocab, train, valid)
    budget = Budget(seconds, spent=trainer.seconds)
    progress = ProgressLine(budget, TASK, stream=say)
    trainer.fit(budget, progress=progress, checkpoint=checkpoint, max_steps=max_steps)
    model = trainer.best_model()

    started = time.perf_counter()
    entries = data.test if test_words is None else data.test[:test_words]
    if not entries:
        raise ValueError(f"g2p: expected test_words ≥ 1, got {test_words!r}")
    greedy_score, greedy = evaluate(model, src_vocab, tgt_vocab, entries)
    beam_score, beam = evaluate(model, src_vocab, tgt_vocab, entries, beam_width=beam_width)
    eval_seconds = time.perf_counter() - started
    save_model_dir(out, TASK, model, src_vocab, tgt_vocab, {"stress": data.stress})

    attention_example = None
    if settings.attention is not None:
        e = entries[0]
        (hyp,) = decode(
            model,
            src_vocab,
            tgt_vocab,
            [word_tokens(e.word)],
            beam_width=beam_width,
            return_attention=True,
        )
        attention_example = attention_text(word_tokens(e.word), hyp.tokens, hyp.attention)
    config = {
        "dataset": "cmudict==1.1.3",
        "stress": data.stress,
        "split_seed": data.seed,
        "train_words": len(data.train),
        "train_pairs": len(train[0]),
        "validation_words": len(data.validation),
        "test_words": len(entries),
        "beam_width": beam_width,
        "length_penalty": 0.6,
        "attention_option": attention,
        **settings.to_config(),
        "budget_seconds": float(seconds),
        "steps": trainer.step,
        "epochs_seen": trainer.step * settings.batch_size / len(train[0]),
        "best_step": trainer.best_step,
        "best_val_loss": trainer.best_val_loss if math.isfinite(trainer.best_val_loss) else None,
        "eval_seconds": eval_seconds,
        "history": trainer.history,
        "source_vocab_size": len(src_vocab),
        "target_vocab_size": len(tgt_vocab),
    }
    record = {
        "task": TASK,
        "metrics": {
            "per": beam_score.per,
            "wer": beam_score.wer,
            "per_greedy": greedy_score.per,
            "wer_greedy": greedy_score.wer,
        },
        "baselines": {"published": PUBLISHED},
        "config": config,
        "seconds": trainer.seconds,
        "examples": _examples(entries, greedy, beam, N_EXAMPLES),
    }
    write_results(out, **record)
    write_report(out, _report(record, data, attention_example))
    return record


# -- commands -------------------------------------------------------------------------------------
@click.command(TASK)
@click.option("--cell", type=click.Choice(CELLS), default="gru", show_default=True)
@click.option(
    "--attention", type=click.Choice(list(ATTENTION_CHOICES)), default="luong", show_default=True
)
@click.option("--seconds", type=click.FloatRange(min=1.0), default=600.0, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("runs/g2p"), show_default=True)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--beam", type=click.IntRange(min=1), default=5, show_default=True)
def task_g2p(cell, attention, seconds, out, resume, seed, beam):
    """Grapheme-to-phoneme conversion on CMUdict (PER, WER; greedy and beam search)."""
    try:
        record = run_g2p(
            out,
            seconds=seconds,
            cell=cell,
            attention=attention,
            beam_width=beam,
            seed=seed,
            resume=resume,
        )
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None
    m = record["metrics"]
    click.echo(
        f"g2p: test PER {100 * m['per']:.2f}% WER {100 * m['wer']:.2f}% (beam {beam}); greedy "
        f"PER {100 * m['per_greedy']:.2f}% WER {100 * m['wer_greedy']:.2f}%; wrote {out}"
    )


def pronounce(
    model_dir: str | Path, words: list[str], *, beam_width: int = 5, attention: bool = False
) -> list[tuple[str, Decoded]]:
    """(normalised word, Decoded) for each word, by the model in `model_dir` (lower case, as
    CMUdict; characters the model does not know are listed in Decoded.unknown)."""
    if not words:
        raise ValueError("g2p: expected at least one word, got none")
    clean = []
    for w in words:
        if not isinstance(w, str) or not w.strip():
            raise ValueError(f"g2p: expected a non-empty word, got {w!r}")
        if any(ch.isspace() for ch in w.strip()):
            raise ValueError(f"g2p: expected one word at a time, got {w!r} (pass words apart)")
        clean.append(w.strip().lower())
    model, src_vocab, tgt_vocab, _ = load_model_dir(model_dir, TASK)
    hyps = decode(
        model,
        src_vocab,
        tgt_vocab,
        [word_tokens(w) for w in clean],
        beam_width=beam_width,
        return_attention=attention,
    )
    return list(zip(clean, hyps, strict=True))


@click.command("g2p")
@click.option(
    "--model",
    "model_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The --out directory of a `rnnlab task g2p` run.",
)
@click.option("--beam", type=click.IntRange(min=1), default=5, show_default=True)
@click.option("--attention", is_flag=True, help="Print the attention matrix of each word.")
@click.argument("words", nargs=-1)
def g2p_command(model_dir, beam, attention, words):
    """Pronounce WORDS (ARPAbet phonemes) with a trained g2p model."""
    try:
        answers = pronounce(model_dir, list(words), beam_width=beam, attention=attention)
    except (ValueError, OSError) as err:
        raise click.ClickException(str(err)) from None
    for word, hyp in answers:
        if hyp.unknown:
            names = ", ".join(repr(ch) for ch in dict.fromkeys(hyp.unknown))
            click.echo(
                f"{word}: the model does not know the character(s) {names} (read as <oov>)",
                err=True,
            )
        click.echo(f"{word}\t{' '.join(hyp.tokens)}")
        if attention and hyp.attention is not None:
            click.echo(attention_text(word_tokens(word), hyp.tokens, hyp.attention))
        elif attention:
            click.echo("(this model has no attention)", err=True)
