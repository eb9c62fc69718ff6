"""`rnnlab explore`: serve the interactive explorer on this machine.

The lead registers it in the CLI with `main.add_command(explore)`.
"""

from __future__ import annotations

from pathlib import Path

import click

LOOPBACK = ("127.0.0.1", "localhost", "::1")


@click.command("explore")
@click.option(
    "--model",
    "model_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A char model from `rnnlab train` for the generation view "
    "(default: the demo's model if it exists, else a small one trained now).",
)
@click.option(
    "--sentiment",
    "sentiment_dir",
    type=click.Path(exists=True, path_type=Path),
    help="The --out directory of `rnnlab task sentiment`: the hidden-state view offers its model.",
)
@click.option(
    "--seq2seq",
    "seq2seq_dirs",
    multiple=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of `rnnlab task g2p|translate` runs (or one run's --out) for the attention "
    "view; repeatable (default: runs/ and results/ here).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port to listen on (0 picks a free one).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. Anything but loopback exposes the explorer to your network.",
)
@click.option("--no-browser", is_flag=True, help="Do not open a web browser.")
@click.option(
    "--view",
    type=click.Choice(
        [
            "unroll",
            "hidden-state",
            "weight-sharing",
            "generation",
            "vanishing-gradients",
            "bptt-flow",
            "attention",
            "forecast",
        ]
    ),
    default=None,
    help="Open the page on this view.",
)
def explore(model_path, sentiment_dir, seq2seq_dirs, port, host, no_browser, view):
    """Watch networks unroll, remember and lose their gradients, in your browser."""
    from .models import ExplorerModels
    from .server import PortInUseError, bind_socket, create_app, serve

    task_sentiment = None
    if sentiment_dir is not None:
        from ..tasks.classify import load_sentiment_model

        try:
            task_sentiment = load_sentiment_model(sentiment_dir)
        except (OSError, ValueError) as err:
            raise click.ClickException(str(err)) from None
    # Bind first: a busy port is reported before any training time is spent.
    try:
        sock = bind_socket(host, port)
    except PortInUseError as err:
        raise click.ClickException(err.strerror) from None
    except OSError as err:
        raise click.ClickException(
            f"cannot listen on {host}:{port}: {err.strerror or err}"
        ) from None
    try:
        if host not in LOOPBACK:
            click.echo(
                f"warning: listening on {host}, not loopback: anyone who can reach this "
                f"machine can use the explorer",
                err=True,
            )
        models = ExplorerModels.load_or_train(model_path=model_path, log=click.echo)
        models.task_sentiment = task_sentiment
        models.seq2seq_dirs = list(seq2seq_dirs) or None
        allowed = LOOPBACK if host in LOOPBACK else None
        app = create_app(models, allowed_hosts=allowed, log=lambda t: click.echo(t, err=True))
        try:
            serve(app, sock, open_browser=not no_browser, view=view, log=click.echo)
        except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after a clean shutdown
            pass
        click.echo("explorer stopped")
    finally:
        sock.close()
