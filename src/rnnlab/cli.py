"""The `rnnlab` command: train, sample, demo, data, info, bench, explore, viz, experiment.

Errors are one clear line on stderr and exit code 2; `rnnlab --debug ...` shows the traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from . import __version__
from .experiments.cli import comma_list as _csv
from .training.charlm import char_lm_cells

EXIT_USAGE = 2


class _Group(click.Group):
    """Turns expected failures into one line and exit code 2 (traceback with --debug)."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as err:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"error: {type(err).__name__}: {err}", err=True)
            sys.exit(EXIT_USAGE)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="rnnlab")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx, debug):
    """rnnlab: recurrent neural networks from their equations."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


# -- info -------------------------------------------------------------------------------------
@main.command()
@click.argument("file", required=False, type=click.Path(dir_okay=True, path_type=Path))
def info(file):
    """Summarise a saved model or checkpoint without loading its weights; without FILE, this
    machine: the CPU and which compiled kernels serve here, or why not."""
    if file is None:
        from . import native
        from .bench import cpu_info

        cpu = cpu_info()
        flags = " ".join(flag for flag, present in cpu["isa"].items() if present)
        click.echo(f"CPU: {cpu['model_name']} ({flags or 'ISA flags unknown'})")
        click.echo(f"kernels: {native.describe()}; {native.num_threads()} threads")
        rows = native.report()
        width = max(len(what) for what, _ in rows)
        for what, status in rows:
            click.echo(f"  {what:{width}s}  {status}")
        return
    from .io import inspect_file

    summary = inspect_file(file)
    click.echo(
        f"{file}: {summary['format']} v{summary['format_version']}, {summary['file_size']:,} bytes"
    )
    config = summary.get("config")
    if config:
        click.echo(
            f"model {config.get('name')!r}: "
            f"{', '.join(layer['class_name'] for layer in config.get('layers', []))}"
        )
        meta = config.get("metadata") or {}
        if isinstance(meta.get("vocab"), dict):
            click.echo(f"vocabulary: {len(meta['vocab'].get('chars', []))} characters")
        for key in ("dataset", "validation_loss", "trained_chars"):
            if key in meta:
                click.echo(f"{key.replace('_', ' ')}: {meta[key]}")
    for tensor in summary["tensors"]:
        click.echo(f"  {tensor['name']:40s} {tensor['dtype']:5s} {tuple(tensor['shape'])}")
    click.echo(f"parameters: {summary['total_parameters']:,}")


# -- sample -----------------------------------------------------------------------------------
@main.command()
@click.argument("model_file", type=click.Path(path_type=Path))
@click.option("--prime", default="\n", show_default=False, help="Text to start from.")
@click.option("--length", default=500, show_default=True, type=click.IntRange(0))
@click.option("--temperature", default=0.8, show_default=True, type=float)
@click.option("--top-k", default=None, type=int, help="Sample among the k likeliest only.")
@click.option("--top-p", default=None, type=float, help="Nucleus sampling mass in (0, 1].")
@click.option("--seed", default=None, type=int, help="Same seed, same text.")
def sample(model_file, prime, length, temperature, top_k, top_p, seed):
    """Generate text from a saved character model, streamed as it is sampled."""
    from .generate import check_sampling, stream
    from .io import load_model
    from .training.charlm import model_vocab

    check_sampling(temperature, top_k, top_p)
    model = load_model(model_file)
    vocab = model_vocab(model, "sample")
    vocab.encode(prime)  # unknown characters fail here, before anything is printed
    click.echo(prime, nl=False)
    for ch in stream(model, vocab, prime, length, temperature, top_k, top_p, seed):
        click.echo(ch, nl=False)
    click.echo()


# -- train ------------------------------------------------------------------------------------
def _train_options(f):
    options = [
        click.option("--data", "dataset", default=None, help="A registered dataset name."),
        click.option(
            "--text",
            "text_file",
            type=click.Path(path_type=Path),
            default=None,
            help="Train on your own UTF-8 text file instead.",
        ),
        click.option(
            "--cell",
            type=click.Choice(sorted(char_lm_cells())),
            default="lstm",
            show_default=True,
            callback=lambda ctx, param, name: char_lm_cells()[name],  # the name, once: a class
            help="The cell family (rnnlab.cells.CELLS).",
        ),
        click.option("--units", type=click.IntRange(1), default=256, show_default=True),
        click.option("--layers", "n_layers", type=click.IntRange(1), default=1, show_default=True),
        click.option("--embedding", type=click.IntRange(1), default=64, show_default=True),
        click.option(
            "--dropout", type=click.FloatRange(0, 1, max_open=True), default=0.0, show_default=True
        ),
        click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True),
        click.option(
            "--k1",
            type=click.IntRange(1),
            default=64,
            show_default=True,
            help="Steps per truncated-BPTT update.",
        ),
        click.option(
            "--k2",
            type=click.IntRange(1),
            default=None,
            help="Steps the gradient flows back (≥ k1; default k1).",
        ),
        click.option(
            "--segment-length",
            type=click.IntRange(1),
            default=4096,
            show_default=True,
            help="Start from zero state this often.",
        ),
        click.option(
            "--lr", type=click.FloatRange(0, min_open=True), default=2e-3, show_default=True
        ),
        click.option(
            "--clipnorm", type=click.FloatRange(0, min_open=True), default=5.0, show_default=True
        ),
        click.option("--epochs", type=click.IntRange(1), default=None),
        click.option(
            "--seconds",
            type=click.FloatRange(0, min_open=True),
            default=None,
            help="Training time budget.",
        ),
        click.option("--eval-every", type=click.IntRange(1), default=200, show_default=True),
        click.option("--seed", type=int, default=0, show_default=True),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _load_corpus(dataset, text_file):
    from . import datasets

    if (dataset is None) == (text_file is None):
        raise click.UsageError("give exactly one of --data NAME or --text FILE")
    if dataset is not None:
        if dataset != "shakespeare":
            datasets.info(dataset)  # unknown names raise with the list of known ones
            raise click.UsageError(f"dataset {dataset!r} is not a text corpus")
        return datasets.load_shakespeare(), "shakespeare"
    return datasets.text_file_corpus(text_file), str(text_file)


@main.command()
@_train_options
@click.option(
    "--checkpoint-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write a resumable checkpoint here.",
)
@click.option("--checkpoint-every", type=click.IntRange(1), default=100, show_default=True)
@click.option("--resume", is_flag=True, help="Continue from --checkpoint-dir.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("model.safetensors"),
    show_default=True,
)
@click.option("--quiet", is_flag=True)
def train(
    dataset,
    text_file,
    cell,
    units,
    n_layers,
    embedding,
    dropout,
    batch_size,
    k1,
    k2,
    segment_length,
    lr,
    clipnorm,
    epochs,
    seconds,
    eval_every,
    seed,
    checkpoint_dir,
    checkpoint_every,
    resume,
    out,
    quiet,
):
    """Train a character-level model by truncated BPTT and save it to --out."""
    from .training.charlm import CharLMSettings

    if epochs is None and seconds is None:
        raise click.UsageError("give --epochs N or --seconds S (or both)")
    if resume and checkpoint_dir is None:
        raise click.UsageError("--resume needs --checkpoint-dir")
    settings = CharLMSettings(
        cell=cell,
        units=units,
        layers=n_layers,
        embedding=embedding,
        dropout=dropout,
        batch_size=batch_size,
        k1=k1,
        k2=k2,
        segment_length=segment_length,
        learning_rate=lr,
        clipnorm=clipnorm,
        seed=seed,
    )
    settings.validate()
    run = _run_training(
        dataset,
        text_file,
        settings,
        epochs=epochs,
        seconds=seconds,
        eval_every=eval_every,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        quiet=quiet,
    )
    run.model.save(out)
    click.echo(f"saved {out}")
    click.echo(f"validation loss: {run.val_loss:.3f} nats/char")


def _run_training(
    dataset,
    text_file,
    settings,
    *,
    epochs,
    seconds,
    eval_every,
    checkpoint_dir=None,
    checkpoint_every=100,
    resume=False,
    quiet=False,
):
    """`train` and `demo`: rnnlab.training.train_char_lm with a progress bar and its lines."""
    from .training.charlm import train_char_lm

    corpus, source = _load_corpus(dataset, text_file)
    bar = _Bar(epochs, seconds, enabled=not quiet)

    def log(line: str) -> None:
        bar.close()  # the bar ends before the next line
        if not quiet:
            click.echo(line)

    try:
        return train_char_lm(
            corpus,
            settings,
            epochs=epochs,
            seconds=seconds,
            source=source,
            eval_every=eval_every,
            checkpoint_dir=checkpoint_dir,
            checkpoint_every=checkpoint_every,
            resume=resume,
            on_progress=bar.update,
            log=log,
        )
    finally:
        bar.close()


class _Bar:
    """A tqdm bar over steps (epochs) or seconds (time budget), with speed and validation loss
    in the postfix; opened at the first update, closed by close() (idempotent)."""

    def __init__(self, epochs, seconds, enabled=True):
        self.epochs, self.seconds, self.enabled = epochs, seconds, enabled
        self.bar = None
        self.last = 0.0

    def update(self, progress, windows_per_epoch):
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm

            by_time = self.seconds is not None
            total = float(self.seconds) if by_time else self.epochs * windows_per_epoch
            self.by_time = by_time
            self.bar = tqdm(
                total=total,
                unit="s" if by_time else "step",
                dynamic_ncols=True,
                mininterval=0.5,
                bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} {unit} [{elapsed}]{postfix}"
                if by_time
                else None,
            )
        now = progress.seconds if self.by_time else progress.steps
        self.bar.update(min(now, self.bar.total) - self.last)
        self.last = min(now, self.bar.total)
        post = {"chars/s": f"{progress.tokens / max(progress.seconds, 1e-9):,.0f}"}
        if progress.history:
            post["val"] = f"{progress.history[-1]['val_loss']:.3f}"
        self.bar.set_postfix(post, refresh=False)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
            self.enabled = False  # training is over: no new bar


# -- bench ------------------------------------------------------------------------------------
@main.command()
@click.option(
    "--cells",
    default="rnn,lstm,gru",
    show_default=True,
    callback=_csv(("rnn", "lstm", "gru", "mingru", "minlstm", "lru")),
    help="With mingru, minlstm or lru: the parallel-recurrence bench (docs/parallel-rnn.md).",
)
@click.option(
    "--configs",
    default="C1,C2,C3,C4",
    show_default=True,
    callback=_csv(("C1", "C2", "C3", "C4")),
    help="C1 (32,64,64,128) C2 (32,64,128,256) C3 (64,128,256,512) C4 (1,256,64,128)",
)
@click.option(
    "--sweep",
    type=click.Choice(["H", "T"]),
    default=None,
    help="Instead of --configs: vary H (64…1024) or T (16…256) around C2.",
)
@click.option(
    "--modes", default="train,inference", show_default=True, callback=_csv(("train", "inference"))
)
@click.option(
    "--against",
    type=click.Choice(["torch", "none"]),
    default="torch",
    show_default=True,
    help="Time a reference side by side (torch), or rnnlab alone.",
)
@click.option(
    "--reference",
    "reference_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="The reference: a Python file defining load() (default: "
    "benchmarks/torch_reference.py of the source checkout rnnlab runs from).",
)
@click.option(
    "--repeats",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="Timed calls per side per row and round.",
)
@click.option(
    "--rounds",
    type=click.IntRange(1),
    default=3,
    show_default=True,
    help="Passes over all rows (samples spread over the run).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the results to this file, or to DIR/bench-<cpu>.json for a directory "
    "(compared with the earlier results of the same CPU model).",
)
@click.option(
    "--isa",
    type=click.Choice(["avx512", "avx2", "generic"]),
    default=None,
    help="Run rnnlab's kernels on this path and hold torch to the same instruction set.",
)
def bench(cells, configs, sweep, modes, against, reference_path, repeats, rounds, json_path, isa):
    """Time rnnlab's layers against torch.nn in the same process (medians, interleaved)."""
    from . import bench as benchmod
    from .bench_isa import force

    if isa is not None:
        try:
            click.echo(f"# --isa {isa}: rnnlab's kernels on {isa}, reference with {force(isa)}")
        except RuntimeError as err:
            raise click.BadParameter(str(err), param_hint="--isa") from err

    if {"mingru", "minlstm", "lru"} & set(cells):
        from .bench_parallel import main as parallel_bench

        return parallel_bench(cells, repeats, rounds, json_path, click.echo)
    if sweep is not None:
        configs = tuple(benchmod.SWEEPS[sweep])
    if reference_path is not None and against == "none":
        raise click.BadParameter(
            "--reference names the side to time against; it cannot go with --against none",
            param_hint="--reference",
        )
    reference = None
    if against == "torch":
        try:
            reference = benchmod.load_reference(reference_path)
        except benchmod.ReferenceUnavailable as err:
            click.echo(
                f"the reference is unavailable: {err}; timing rnnlab alone (as --against none)"
            )
    env = benchmod.environment(reference)
    cpu = env["cpu"]
    if json_path is not None:
        json_path = benchmod.output_path(json_path, cpu)  # refuses another CPU's file
    ref = "none" if reference is None else f"{reference.name} {reference.version}"
    click.echo(
        f"# {env['date']}, numpy {env['numpy']}, reference {ref}, {env['machine']}, "
        f"{env['cores']} cores, BLAS {env['blas']}, "
        f"{env['openblas_env'] or 'no OPENBLAS_*'}"
    )
    click.echo(
        f"# CPU: {benchmod.describe_cpu(cpu)}; its results file: "
        f"{benchmod.results_path('.', cpu).name}"
    )
    peaks = benchmod.gemm_peak(reference)
    measured = ", ".join(f"{name} {v:.0f}" for name, v in peaks.items() if name != "peak")
    click.echo(
        f"# float32 GEMM peak (1024³) measured here: {measured} → {peaks['peak']:.0f} "
        f"GFLOP/s; median of {rounds} rounds × {repeats} timed calls per side"
    )
    click.echo(benchmod.header("torch" if reference is None else reference.name))
    records = benchmod.run(
        cells,
        configs,
        modes,
        reference=reference,
        repeats=repeats,
        peak=peaks["peak"],
        log=click.echo,
        rounds=rounds,
    )
    click.echo(
        "# speed ratio = reference time / rnnlab time (> 1: rnnlab is faster); load "
        f"average {env['load_average']} at the start, {benchmod.load_average()} now"
    )
    if json_path is not None:
        kernel_path = (env.get("rnnlab_kernels") or {}).get("path")
        baseline = benchmod.find_baseline(json_path, cpu, records, kernel_path)
        if baseline is None:
            click.echo("# no earlier results of this CPU model and kernel path to compare with")
        else:
            click.echo(f"# compared with {baseline} (same CPU model and kernel path)")
            for warning in benchmod.regressions(records, baseline):
                click.echo(f"warning: {warning}", err=True)
        benchmod.save_json(json_path, records, env, peaks)
        click.echo(f"wrote {json_path}")


# -- demo -------------------------------------------------------------------------------------
@main.command()
@click.option(
    "--seconds",
    type=click.FloatRange(1),
    default=360.0,
    show_default=True,
    help="Training time budget.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("results/demo"),
    show_default=True,
)
@click.option("--units", type=click.IntRange(1), default=256, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def demo(seconds, out, units, seed):
    """Shakespeare in one command: fetch, train a char LSTM, write a sample and a figure."""
    from .generate import stream
    from .training.charlm import CharLMSettings
    from .viz import plot_loss_curve

    settings = CharLMSettings(units=units, seed=seed)
    run = _run_training("shakespeare", None, settings, epochs=None, seconds=seconds, eval_every=150)
    model, vocab, trainer = run.model, run.vocab, run.trainer
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "model.safetensors")
    history = trainer.progress.history
    if history:
        plot_loss_curve(
            history,
            out / "loss.png",
            title="char-LSTM on Shakespeare",
            val_label="validation (first 60,000 characters)",
        )
    prime = "ROMEO:\n"
    click.echo("\n--- sample (temperature 0.8) ---")
    click.echo(prime, nl=False)
    text = []
    for ch in stream(model, vocab, prime, 600, temperature=0.8, seed=seed):
        text.append(ch)
        click.echo(ch, nl=False)
    click.echo("\n---")
    summary = {
        "validation_loss_nats_per_char": run.val_loss,
        "trained_chars": trainer.progress.tokens,
        "train_seconds": trainer.progress.seconds,
        "chars_per_second": trainer.progress.tokens / max(trainer.progress.seconds, 1e-9),
        "settings": settings.to_config(),
        "history": history,
        "sample": prime + "".join(text),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    click.echo(f"results in {out}/ (model.safetensors, loss.png, summary.json)")
    click.echo(f"validation loss: {run.val_loss:.3f} nats/char")


def _register_commands() -> None:
    """Commands defined next to the code they drive."""
    from .datasets.cli import data
    from .experiments.cli import experiment
    from .forecast.cli import forecast_command
    from .tasks.classify import classify
    from .tasks.cli import task
    from .tasks.g2p import g2p_command
    from .tasks.translate import translate_cmd
    from .viz.explore import explore
    from .viz.export import viz

    commands = (data, experiment, task, translate_cmd, g2p_command, classify, forecast_command)
    for command in (*commands, explore, viz):
        main.add_command(command)


_register_commands()

if __name__ == "__main__":
    main()
