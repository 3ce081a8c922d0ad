"""The ``gitkube`` command line (click). A thin layer: parse flags, call ``gitkube.app``."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from gitkube import __version__, app
from gitkube.util import duration

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitkube")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Log verbosity.")
def cli(log_level: str) -> None:
    """gitkube: GitOps with a built-in Kubernetes control plane."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@cli.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State directory [default: $GITKUBE_DATA_DIR or ~/.local/share/gitkube].")
@click.option("--listen", default="127.0.0.1:6443", show_default=True, help="HOST:PORT of the HTTPS API.")
@click.option("--store", "store_url", default="sqlite", show_default=True,
              help="Store backend: sqlite (DATA/state.db).")
@click.option("--service-cidr", default="127.96.0.0/16", show_default=True,
              help="Loopback range Service cluster IPs are allocated from.")
@click.option("--history", default=10000, show_default=True, type=click.IntRange(1),
              help="Revisions of change history kept for watches to resume from.")
@click.option("--compaction-interval", default="5m", show_default=True,
              help="How often history beyond --history is compacted (e.g. 30s, 5m).")
def up(data_dir: Path | None, listen: str, store_url: str, service_cidr: str, history: int,
       compaction_interval: str) -> None:
    """Start the daemon: the built-in control plane's HTTPS API."""
    try:
        interval = duration.parse(compaction_interval)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--compaction-interval") from None
    settings = app.Settings(data_dir=data_dir or app.default_data_dir(), listen=listen,
                            store=store_url, service_cidr=service_cidr, history=history,
                            compaction_interval=interval)
    raise SystemExit(app.run_up(settings))


def main() -> None:
    cli()
