"""The translation task: `rnnlab task translate` trains an encoder–decoder with attention on
Tatoeba pairs within a time budget and scores it on the test split with sacrebleu; `rnnlab
translate --model DIR "sentence"` answers with the trained model.

    rnnlab task translate --pair eng-fra --seconds 600 --out runs/fra
    rnnlab translate --model runs/fra "I have to go to sleep." --attention

Data: `rnnlab.datasets.tatoeba` (split grouped by source sentence, seed 0; joiner tokeniser).
Vocabularies: words of the training pairs seen at least `min_count` times, per side, cased,
at most `max_vocab` of the most frequent; the rest map to <oov>. Training pairs longer than
MAX_TRAIN_TOKENS tokens on either side are left out of training (a handful); validation and
test keep every pair.

Metrics (results.json "metrics", sacrebleu 13a tokenisation on the detokenised output against
the raw reference, one reference per sentence): "bleu" and "chrf" of beam search (width 5,
GNMT length penalty 0.6), "bleu_greedy" and "chrf_greedy" of greedy decoding, "bleu_long" and
"bleu_long_greedy" on the test sentences whose source has more than 10 words, "val_loss" (the
best validation cross-entropy), "test_oov_rate" (share of test source tokens unknown to the
model). "examples": sample test sentences with the beam output's attention matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from ..datasets import tatoeba
from ..layers import cells_by_units
from ..seq2seq import Vocabulary
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
    Seq2SeqSettings,
    Seq2SeqTrainer,
    checkpoint_state,
    decode,
    load_model_dir,
    save_model_dir,
)

TASK = "translate"
MAX_TRAIN_TOKENS = 50
LONG_WORDS = 10
ATTENTION_NAMES = {"bahdanau": "bahdanau", "luong": "general", "dot": "dot", "none": None}
# tuned for the shared 2-core CPU (docs/seq2seq.md, "Translation")
DEFAULTS = {
    "cell": "gru",
    "units": 128,
    "embed_dim": 128,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "output_bias_prior": True,
}
VOCAB_DEFAULTS = {"min_count": 2, "max_vocab": 4000}
N_EXAMPLES = 8


def require_sacrebleu():
    """The sacrebleu module, or a RuntimeError saying how to install it."""
    try:
        import sacrebleu
    except ImportError:
        raise RuntimeError(
            "the translate task scores with sacrebleu (BLEU, chrF), which is not installed: "
            "pip install 'rnnlab[tasks]' (or pip install sacrebleu)"
        ) from None
    return sacrebleu


def score(hypotheses: list[str], references: list[str]) -> dict[str, float]:
    """Corpus BLEU (13a) and chrF of detokenised hypotheses against one reference each."""
    sacrebleu = require_sacrebleu()
    if len(hypotheses) != len(references) or not references:
        raise ValueError(
            f"score: expected as many hypotheses as references (≥ 1), got {len(hypotheses)} "
            f"and {len(references)}"
        )
    return {
        "bleu": float(sacrebleu.corpus_bleu(hypotheses, [references], tokenize="13a").score),
        "chrf": float(sacrebleu.corpus_chrf(hypotheses, [references]).score),
    }


def prepare_data(
    pair: str, min_count: int, max_vocab: int | None = None, seed: int = 0
) -> dict[str, Any]:
    """Tokenised splits and the vocabularies of the training side (module docstring)."""
    data = tatoeba.load_tatoeba(pair, seed=seed, progress=lambda m: click.echo(m, err=True))

    def tok(pairs):
        return [tatoeba.tokenize(p.source) for p in pairs], [
            tatoeba.tokenize(p.target) for p in pairs
        ]

    train_src, train_tgt = tok(data.train)
    keep = [
        i
        for i, (s, t) in enumerate(zip(train_src, train_tgt, strict=True))
        if len(s) <= MAX_TRAIN_TOKENS and len(t) <= MAX_TRAIN_TOKENS
    ]
    train = ([train_src[i] for i in keep], [train_tgt[i] for i in keep])
    return {
        "data": data,
        "train": train,
        "valid": tok(data.validation),
        "test": tok(data.test),
        "source_vocab": Vocabulary.build(train[0], min_count=min_count, max_size=max_vocab),
        "target_vocab": Vocabulary.build(train[1], min_count=min_count, max_size=max_vocab),
    }


def attention_text(source: list[str], output: list[str], weights: np.ndarray) -> str:
    """The attention matrix as text: one row per output token (and <eos>), one column per
    source token (and <eos>), weights in percent."""

    def shown(tokens):
        return [t.strip(tatoeba.JOINER) or t for t in tokens] + ["<eos>"]

    cols = shown(source)[: weights.shape[1]]
    rows = shown(output)[: weights.shape[0]]
    width = max(4, *(min(len(c), 8) for c in cols))
    lead = max(len(r) for r in rows)
    lines = [" " * lead + " " + " ".join(c[:8].rjust(width) for c in cols)]
    for r, w in zip(rows, weights, strict=True):
        lines.append(r.ljust(lead) + " " + " ".join(f"{100 * x:.0f}".rjust(width) for x in w))
    return "\n".join(lines)


def _evaluate(model, prep, beam_width: int) -> tuple[dict[str, float], dict[str, list[str]]]:
    data, sv, tv = prep["data"], prep["source_vocab"], prep["target_vocab"]
    sources = prep["test"][0]
    refs = [p.target for p in data.test]
    long = [i for i, p in enumerate(data.test) if len(p.source.split()) > LONG_WORDS]
    metrics: dict[str, float] = {}
    outputs = {}
    for name, width in (("greedy", 1), ("beam", beam_width)):
        hyps = decode(model, sv, tv, sources, beam_width=width)
        text = [tatoeba.detokenize(h.tokens) for h in hyps]
        outputs[name] = text
        suffix = "" if name == "beam" else "_greedy"
        s = score(text, refs)
        metrics["bleu" + suffix], metrics["chrf" + suffix] = s["bleu"], s["chrf"]
        metrics["bleu_long" + suffix] = score([text[i] for i in long], [refs[i] for i in long])[
            "bleu"
        ]
    n_tokens = sum(len(s) for s in sources)
    metrics["test_oov_rate"] = sum(t not in sv.stoi for s in sources for t in s) / n_tokens
    metrics["test_long_sentences"] = len(long)
    return metrics, outputs


def _examples(model, prep, outputs, beam_width: int) -> list[dict[str, Any]]:
    """N_EXAMPLES test sentences (half with > 10 source words), the beam's attention."""
    data = prep["data"]
    short = [i for i, p in enumerate(data.test) if len(p.source.split()) <= LONG_WORDS]
    long = [i for i, p in enumerate(data.test) if len(p.source.split()) > LONG_WORDS]
    pick = short[: N_EXAMPLES // 2] + long[: N_EXAMPLES // 2]
    hyps = decode(
        model,
        prep["source_vocab"],
        prep["target_vocab"],
        [prep["test"][0][i] for i in pick],
        beam_width=beam_width,
        return_attention=True,
    )
    out = []
    for i, h in zip(pick, hyps, strict=True):
        out.append(
            {
                "source": data.test[i].source,
                "reference": data.test[i].target,
                "greedy": outputs["greedy"][i],
                "beam": outputs["beam"][i],
                "source_tokens": prep["test"][0][i],
                "output_tokens": h.tokens,
                "unknown": h.unknown,
                "attention": None if h.attention is None else np.round(h.attention, 4),
            }
        )
    return out


def _report(pair: str, metrics, trainer, config, examples, seconds_eval: float) -> str:
    s = trainer.settings
    att = config["attention"]
    rows = [
        ["greedy", metrics["bleu_greedy"], metrics["chrf_greedy"], metrics["bleu_long_greedy"]],
        [
            f"beam (width {config['beam_width']})",
            metrics["bleu"],
            metrics["chrf"],
            metrics["bleu_long"],
        ],
    ]
    text = [
        f"# Translation {pair}: BLEU {metrics['bleu']:.1f} (beam), {metrics['bleu_greedy']:.1f} "
        f"(greedy)",
        "",
        f"A {s.cell.upper()} encoder–decoder ({s.units} units, embeddings {s.embed_dim}, "
        f"bidirectional encoder: {s.bidirectional}, attention: {att}) trained for "
        f"{trainer.seconds:.0f} s ({trainer.step} steps of {s.batch_size} pairs, "
        f"{trainer.epoch} full epochs) on {config['train_pairs']:,} Tatoeba pairs; the "
        f"weights of the best validation loss ({trainer.best_val_loss:.3f} at step "
        f"{trainer.best_step}) scored on {config['test_pairs']:,} test sentences with "
        f"sacrebleu (13a), one reference each; {metrics['test_long_sentences']} of them have "
        f"more than {LONG_WORDS} words. Decoding took {seconds_eval:.0f} s.",
        "",
        markdown_table(["decoding", "BLEU", "chrF", f"BLEU (> {LONG_WORDS} words)"], rows),
        "",
        f"Vocabularies (words seen ≥ {config['min_count']} times in train, at most "
        f"{config['max_vocab']}): "
        f"{config['source_vocab']:,} source, {config['target_vocab']:,} target tokens; "
        f"{100 * metrics['test_oov_rate']:.1f}% of test source tokens are unknown.",
        "",
        "## Sample translations",
        "",
        markdown_table(
            ["source", "reference", "greedy", f"beam {config['beam_width']}"],
            [[e["source"], e["reference"], e["greedy"], e["beam"]] for e in examples],
        ),
    ]
    for e in examples[:1] + examples[N_EXAMPLES // 2 : N_EXAMPLES // 2 + 1]:
        if e["attention"] is not None:
            text += [
                "",
                f"Attention (percent) of the beam output for “{e['source']}”:",
                "",
                "```",
                attention_text(e["source_tokens"], e["output_tokens"], np.asarray(e["attention"])),
                "```",
            ]
    text += ["", f"Data: {tatoeba.info(tatoeba.NAME).citation}."]
    return "\n".join(text)


def _settings(options: dict[str, Any], resumed: dict[str, Any] | None) -> Seq2SeqSettings:
    """Settings from the options given (the rest: DEFAULTS, then Seq2SeqSettings'), or the
    checkpoint's when resuming (options given then must agree with it)."""
    if resumed is not None:
        for key, value in options.items():
            if resumed.get(key) != value:
                raise ValueError(
                    f"--resume: {key} = {value!r} differs from the checkpoint's "
                    f"{resumed.get(key)!r}; leave it out to continue the run"
                )
        return Seq2SeqSettings.from_config(resumed)
    return Seq2SeqSettings(**{**DEFAULTS, **options})


def run_translate(
    *,
    pair: str = "eng-fra",
    seconds: float = 600.0,
    out: str | Path,
    resume: bool = False,
    vocab: dict[str, Any] | None = None,
    beam_width: int = 5,
    options: dict[str, Any] | None = None,
    stream=None,
) -> dict[str, Any]:
    """Train, evaluate, write DIR/results.json, report.md, model.safetensors + model.json
    and checkpoint.safetensors; returns the metrics. `options`: Seq2SeqSettings fields given
    on the command line; `vocab`: {"min_count", "max_vocab"} given (the rest: DEFAULTS, or
    the checkpoint's values when resuming)."""
    require_sacrebleu()
    options = dict(options or {})
    out = prepare_out(out, resume=resume)
    ckpt = out / CHECKPOINT_NAME
    state = checkpoint_state(ckpt) if resume and ckpt.is_file() else None
    vocab = dict(vocab or {})
    if state is not None:
        extra = state.get("extra", {})
        if extra.get("pair") != pair:
            raise ValueError(
                f"--resume: the run in {out} translates {extra.get('pair')!r}, not {pair!r}"
            )
        for key, value in vocab.items():
            if extra.get(key) != value:
                raise ValueError(f"--resume: {key} {value} differs from the run's {extra.get(key)}")
        vocab = {k: extra.get(k) for k in VOCAB_DEFAULTS}
    elif resume:
        raise ValueError(f"--resume: {out} holds results but no {CHECKPOINT_NAME}")
    vocab = {**VOCAB_DEFAULTS, **vocab}
    settings = _settings(options, None if state is None else state["settings"])
    prep = prepare_data(pair, vocab["min_count"], vocab["max_vocab"])
    extra = {"pair": pair, **vocab}
    sv, tv = prep["source_vocab"], prep["target_vocab"]
    if state is not None:
        trainer = Seq2SeqTrainer.resume(ckpt, TASK, sv, tv, prep["train"], prep["valid"])
    else:
        trainer = Seq2SeqTrainer(TASK, settings, sv, tv, prep["train"], prep["valid"], extra)
    budget = Budget(seconds, spent=min(trainer.seconds, seconds))
    progress = ProgressLine(budget, f"translate {pair}", stream=stream)
    trainer.fit(budget, progress=progress, checkpoint=ckpt)
    model = trainer.best_model()
    eval_clock = Budget(1e9)
    metrics, outputs = _evaluate(model, prep, beam_width)
    examples = _examples(model, prep, outputs, beam_width)
    seconds_eval = eval_clock.elapsed()
    metrics["val_loss"] = trainer.best_val_loss
    s = trainer.settings
    config = {
        "pair": pair,
        **s.to_config(),
        "attention": s.attention,
        **vocab,
        "source_vocab": len(sv),
        "target_vocab": len(tv),
        "train_pairs": len(prep["train"][0]),
        "validation_pairs": len(prep["valid"][0]),
        "test_pairs": len(prep["test"][0]),
        "split_seed": prep["data"].seed,
        "beam_width": beam_width,
        "length_penalty": 0.6,
        "steps": trainer.step,
        "epochs": trainer.epoch,
        "best_step": trainer.best_step,
        "evaluation_seconds": round(seconds_eval, 1),
        "history": trainer.history,
        "parameters": model.count_params(),
        "dataset": tatoeba.NAME,
        "licence": prep["data"].licence,
    }
    save_model_dir(out, TASK, model, sv, tv, {"pair": pair, "settings": s.to_config()})
    write_results(
        out,
        task=TASK,
        metrics=metrics,
        config=config,
        seconds=trainer.seconds,
        examples=examples,
    )
    write_report(out, _report(pair, metrics, trainer, config, examples, seconds_eval))
    return metrics


# -- commands -------------------------------------------------------------------------------------
@click.command("translate")
@click.option("--pair", type=click.Choice(tatoeba.PAIRS), default="eng-fra", show_default=True)
@click.option("--cell", type=click.Choice(sorted(cells_by_units())), default=None, help="[gru]")
@click.option("--attention", type=click.Choice(list(ATTENTION_NAMES)), default=None, help="[luong]")
@click.option("--seconds", type=float, default=600.0, show_default=True, help="training budget")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="[runs/translate-PAIR]")
@click.option("--resume", is_flag=True, help="continue the run in --out from its checkpoint")
@click.option("--seed", type=int, default=None, help="model and batch order seed [0]")
@click.option("--units", type=int, default=None, help=f"[{DEFAULTS['units']}]")
@click.option("--embed-dim", type=int, default=None, help=f"[{DEFAULTS['embed_dim']}]")
@click.option("--layers", "num_layers", type=int, default=None, help="layers per side [1]")
@click.option("--batch-size", type=int, default=None, help=f"[{DEFAULTS['batch_size']}]")
@click.option("--learning-rate", type=float, default=None, help="Adam's [0.003]")
@click.option("--min-count", type=int, default=None, help="vocabulary: words seen ≥ N times [2]")
@click.option(
    "--max-vocab", type=int, default=None, help="vocabulary: at most N words a side [4000]"
)
@click.option("--beam", type=int, default=5, show_default=True, help="beam width for test")
def translate_task(
    pair, attention, seconds, out, resume, min_count, max_vocab, beam, **given
) -> None:
    """Train English→X translation on Tatoeba pairs; BLEU/chrF on test (sacrebleu)."""
    out = out or f"runs/translate-{pair}"
    options = {k: v for k, v in given.items() if v is not None}
    if attention is not None:
        options["attention"] = ATTENTION_NAMES[attention]
    try:
        metrics = run_translate(
            pair=pair,
            seconds=seconds,
            out=out,
            resume=resume,
            vocab={
                k: v
                for k, v in (("min_count", min_count), ("max_vocab", max_vocab))
                if v is not None
            },
            beam_width=beam,
            options=options,
        )
    except (ValueError, TypeError, RuntimeError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(
        f"{out}: BLEU {metrics['bleu']:.2f} (beam {beam}), {metrics['bleu_greedy']:.2f} "
        f"(greedy), chrF {metrics['chrf']:.2f}; BLEU on > {LONG_WORDS}-word sentences "
        f"{metrics['bleu_long']:.2f} (beam), {metrics['bleu_long_greedy']:.2f} (greedy)"
    )


@click.command("translate")
@click.option("--model", "model_dir", required=True, type=click.Path(), help="a run's --out")
@click.argument("sentence", nargs=-1)
@click.option("--beam", type=int, default=5, show_default=True, help="beam width (1: greedy)")
@click.option("--attention", "show_attention", is_flag=True, help="print the attention matrix")
def translate_cmd(model_dir, sentence, beam, show_attention) -> None:
    """Translate SENTENCE with a model that `rnnlab task translate` trained."""
    text = " ".join(sentence)
    tokens = tatoeba.tokenize(text)
    if not tokens:
        raise click.UsageError("expected a sentence to translate, got empty input")
    if beam < 1:
        raise click.UsageError(f"--beam: expected a width ≥ 1, got {beam}")
    try:
        model, sv, tv, _ = load_model_dir(model_dir, TASK)
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    (hyp,) = decode(model, sv, tv, [tokens], beam_width=beam, return_attention=show_attention)
    if hyp.unknown:
        click.echo(f"unknown words mapped to <oov>: {', '.join(hyp.unknown)}", err=True)
    click.echo(tatoeba.detokenize(hyp.tokens))
    if show_attention:
        if hyp.attention is None:
            click.echo("(this model has no attention)", err=True)
        else:
            shown = [t if t in sv.stoi else "<oov>" for t in tokens]
            click.echo(attention_text(shown, hyp.tokens, hyp.attention))
