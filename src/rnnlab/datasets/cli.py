"""`rnnlab data ...`: list the registered datasets, fetch one into the cache."""

from __future__ import annotations

import click

from . import fetch, list_datasets


@click.group()
def data() -> None:
    """List and fetch datasets (cached in $RNNLAB_HOME, default ~/.cache/rnnlab)."""


@data.command("list")
def data_list() -> None:
    """The registered datasets, their sources and licences."""
    for entry in list_datasets():
        click.echo(f"{entry.name}: {entry.description}")
        click.echo(f"    source: {entry.source} ({entry.archive}, sha256 {entry.sha256[:16]}…)")
        click.echo(f"    licence: {entry.licence}")
        click.echo(f"    cite: {entry.citation}")


@data.command("fetch")
@click.argument("name")
def data_fetch(name: str) -> None:
    """Download NAME (pinned, checked by sha256) into the cache."""
    path = fetch(name)
    click.echo(f"{name}: {path}")
