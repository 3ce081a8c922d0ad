"""The GitOps commands of the ``gitkube`` CLI: diff, apply, status, history, rollback, and the
hidden ``hook`` the hosted repository runs. Registered on the group by ``gitkube.cli``.

Exit codes (DESIGN.md §2): ``diff`` 0 in sync, 1 changes, 2 rejected by pre-flight, 3 error;
``apply`` and ``rollback`` 0 Synced, 1 failed or rolled back, 2 rejected, 3 error. User errors
are one line on stderr, no traceback (``--debug`` shows it).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from gitkube import errors

__all__ = ["COMMANDS"]

T = TypeVar("T")
EXIT_REJECTED, EXIT_ERROR = 2, 3


def _data_dir(value: Path | None) -> Path:
    from gitkube.util.datadir import default_data_dir

    return value or default_data_dir()


def _run(main: Callable[[], Coroutine[Any, Any, T]], debug: bool) -> T:
    import uvloop

    try:
        return uvloop.run(main())
    except errors.Rejected as exc:
        for problem in exc.problems:
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(EXIT_REJECTED) from (exc if debug else None)
    except errors.GitkubeError as exc:
        if debug:
            raise
        click.echo(_one_line(exc), err=True)
        raise SystemExit(EXIT_ERROR) from None


def _one_line(exc: errors.GitkubeError) -> str:
    """A user error as one line: ``error: WHAT (hint: WHAT TO DO)``."""
    text = " ".join(str(exc).split())
    hint = _hint(exc)
    return f"error: {text} (hint: {hint})" if hint else f"error: {text}"


def _hint(exc: errors.GitkubeError) -> str:
    text = str(exc)
    if "cannot reach the API server" in text:
        return "is `gitkube up` running? or pass --kubeconfig for another cluster"
    if isinstance(exc, errors.Unauthorized):
        return "the kubeconfig's token is not accepted by this server"
    if isinstance(exc, errors.Forbidden):
        return "this needs the admin kubeconfig (DATA/kubeconfig), not the read-only one"
    if "no earlier healthy release" in text:
        return "`gitkube history` lists the points to roll back to"
    if "not a git repository" in text:
        return "pass --repo with the path of a git checkout of the manifests"
    return ""


def _client(kubeconfig: Path | None, data_dir: Path | None) -> Any:
    from gitkube.client import Client, from_kubeconfig

    path = kubeconfig or _data_dir(data_dir) / "kubeconfig"
    if not path.exists():
        raise errors.ConfigError(f"{path}: no such kubeconfig (start `gitkube up`, or pass --kubeconfig)")
    return Client(from_kubeconfig(path, user_agent="gitkube-cli"))


def _cache(data_dir: Path | None) -> Any:
    from gitkube.manifests import ParseCache

    base = _data_dir(data_dir)
    return ParseCache(base / "cache" / "manifests.cache" if base.exists() else None)


def _console() -> Any:
    """A rich console: the terminal's width, or a wide fixed one when output is piped (rich would
    otherwise assume 80 columns and shorten the very cells a script greps for)."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 240)


def _emit(data: Any, output: str) -> None:
    if output == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=True))
    else:
        from ruamel.yaml import YAML

        yaml = YAML(typ="safe", pure=True)
        yaml.default_flow_style = False
        yaml.dump(data, sys.stdout)


_REPO = click.option("--repo", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                     show_default=True, help="Git repository of manifests.")
_REV = click.option("--rev", default="HEAD", show_default=True, help="Commit, branch or tag to plan.")
_PATH = click.option("--path", "subpath", default="", help="Directory of the manifests inside the repository.")
_KUBECONFIG = click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
                           help="Cluster to plan against [default: DATA/kubeconfig, the built-in control plane].")
_DATA = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="State directory [default: $GITKUBE_DATA_DIR or ~/.local/share/gitkube].")
_DEBUG = click.option("--debug", is_flag=True, help="Show tracebacks.")


def _output(*choices: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option("-o", "--output", type=click.Choice(list(choices)), default=choices[0], show_default=True)


@click.command()
@_REPO
@_REV
@_PATH
@_KUBECONFIG
@_DATA
@_output("text", "json", "yaml")
@click.option("--allow-empty", is_flag=True, help="Allow an empty desired set to prune everything.")
@_DEBUG
def diff(repo: Path, rev: str, subpath: str, kubeconfig: Path | None, data_dir: Path | None, output: str,
         allow_empty: bool, debug: bool) -> None:
    """Dry run: the plan a sync of REV would carry out against the live state."""
    from gitkube.engine.pipeline import decryptor, prepare
    from gitkube.gitsource.repo import GitRepo
    from gitkube.plan import render_text
    from gitkube.plan.render import render_capacity

    async def main() -> int:
        git = GitRepo(repo.resolve())
        client = _client(kubeconfig, data_dir)
        try:
            prepared = await prepare(git, rev, client, path=subpath, cache=_cache(data_dir), allow_empty=allow_empty,
                                     decrypt=decryptor(_data_dir(data_dir)))
        finally:
            await client.close()
        plan = prepared.plan
        if output != "text":
            doc = {"commit": prepared.commit.sha, "inSync": plan.in_sync and not prepared.problems,
                   "problems": prepared.problems, "plan": plan.to_json(), "capacity": prepared.capacity.to_json()}
            _emit(doc, output)
        else:
            click.echo(f"commit {prepared.commit.sha[:12]} {prepared.commit.summary}")
            click.echo(render_text(plan, color=sys.stdout.isatty()), nl=False)
            click.echo(render_capacity(prepared.capacity, color=sys.stdout.isatty()), nl=False)
            for problem in prepared.problems:
                click.echo(f"rejected: {problem}", err=True)
        if prepared.problems:
            return EXIT_REJECTED
        return 0 if plan.in_sync else 1

    raise SystemExit(_run(main, debug))


@click.command()
@_REPO
@_REV
@_PATH
@_KUBECONFIG
@_DATA
@click.option("--no-wait", is_flag=True, help="Apply without waiting for health.")
@click.option("--rollout-timeout", default="120s", show_default=True, help="How long a sync may take to be healthy.")
@click.option("--allow-empty", is_flag=True, help="Allow an empty desired set to prune everything.")
@_DEBUG
def apply(repo: Path, rev: str, subpath: str, kubeconfig: Path | None, data_dir: Path | None, no_wait: bool,
          rollout_timeout: str, allow_empty: bool, debug: bool) -> None:
    """One sync of REV from the command line: apply, wait for health, roll back on failure."""
    from gitkube.cli_progress import display_for
    from gitkube.engine.daemon import Engine, EngineSettings
    from gitkube.engine.pipeline import decryptor
    from gitkube.engine.source import Source
    from gitkube.gitsource.repo import GitRepo
    from gitkube.util import duration

    async def main() -> int:
        git = GitRepo(repo.resolve())
        info = git.resolve(rev)
        client = _client(kubeconfig, data_dir)
        settings = EngineSettings(path=subpath, rollout_timeout=duration.parse(rollout_timeout),
                                  allow_empty=allow_empty, wait=not no_wait, decrypt=decryptor(_data_dir(data_dir)))

        display = display_for()
        engine = Engine(Source("local", git, "HEAD"), client, settings, cache=_cache(data_dir), echo=display.feed)
        try:
            with display:
                await engine.releases.ensure_namespace()
                engine.state = await engine.releases.state()
                engine.state.failed.pop(info.sha, None)
                release = await engine.sync(info, trigger="apply")
        finally:
            await engine.stop()
            await client.close()
        if release.outcome == "Synced":
            return 0
        return EXIT_REJECTED if release.reason.startswith("rejected by pre-flight") else 1

    raise SystemExit(_run(main, debug))


async def _daemon_get(kubeconfig: Path | None, data_dir: Path | None, path: str) -> Any:
    client = _client(kubeconfig, data_dir)
    try:
        return (await client.transport.request("GET", path)).json()
    finally:
        await client.close()


@click.command()
@_KUBECONFIG
@_DATA
@_output("text", "json", "yaml")
@_DEBUG
def status(kubeconfig: Path | None, data_dir: Path | None, output: str, debug: bool) -> None:
    """Current commit, sync state and health per object."""
    data = _run(lambda: _daemon_get(kubeconfig, data_dir, "/gitkube/v1/status"), debug)
    if output != "text":
        _emit(data, output)
        return
    from rich.table import Table

    console = _console()
    console.print(f"[bold]{data['syncState']}[/bold]  commit {data['commit'][:12] or '-'}  "
                  f"(branch {data['branch']} of {data['source']})")
    if data.get("held"):
        console.print(f"held at {data['held'][:12]} by a rollback until a newer commit arrives")
    if data.get("message"):
        console.print(data["message"], markup=False)
    table = Table("OBJECT", "HEALTH", "MESSAGE", box=None)
    colours = {"Healthy": "green", "Progressing": "yellow", "Degraded": "red", "Missing": "red"}
    for row in data.get("health") or []:
        colour = colours.get(row["status"], "white")
        table.add_row(row["object"], f"[{colour}]{row['status']}[/{colour}]", row["message"])
    console.print(table)


@click.command()
@_KUBECONFIG
@_DATA
@click.option("--limit", default=20, show_default=True, help="How many releases to show (0 = all).")
@_output("text", "json", "yaml")
@_DEBUG
def history(kubeconfig: Path | None, data_dir: Path | None, limit: int, output: str, debug: bool) -> None:
    """Rollback points: commit, author, message, time, outcome, duration."""
    rows = _run(lambda: _daemon_get(kubeconfig, data_dir, f"/gitkube/v1/history?limit={limit}"), debug)
    if output != "text":
        _emit(rows, output)
        return
    from rich.table import Table

    table = Table("#", "COMMIT", "AUTHOR", "MESSAGE", "STARTED", "OUTCOME", "CHANGES", "DURATION", "REASON", box=None)
    colours = {"Synced": "green", "RolledBack": "yellow", "Failed": "red", "Progressing": "cyan"}
    for r in rows:
        colour = colours.get(r["outcome"], "white")
        reason = r.get("reason", "").splitlines()[0] if r.get("reason") else ""
        if r.get("rolled_back_to"):
            reason = f"→ {r['rolled_back_to'][:12]}: {reason}"
        duration = f"{r['duration']:.1f}s" if r.get("duration") is not None else ""
        n = r.get("counts") or {}
        changes = f"+{n.get('create', 0)} ~{n.get('update', 0)} -{n.get('delete', 0)}" if n else ""
        table.add_row(str(r["number"]), r["commit"][:12], r.get("author", ""), r.get("message", "")[:50],
                      r.get("started", ""), f"[{colour}]{r['outcome']}[/{colour}]", changes, duration, reason[:80])
    _console().print(table)


@click.command()
@click.argument("commit", required=False)
@click.option("--revert", is_flag=True, help="Also write a revert commit to the repository so git stays the truth.")
@_KUBECONFIG
@_DATA
@_DEBUG
def rollback(commit: str | None, revert: bool, kubeconfig: Path | None, data_dir: Path | None, debug: bool) -> None:
    """Apply an earlier point (default: the previous healthy one) and hold there until the next commit."""
    from gitkube.cli_progress import display_for

    async def main() -> int:
        client = _client(kubeconfig, data_dir)
        outcome = ""
        import aiohttp

        try:
            body = json.dumps({"commit": commit or "", "revert": revert}).encode()
            session = client.transport.session()
            async with session.post("/gitkube/v1/rollback", data=body,
                                    headers={"Content-Type": "application/json"}) as resp:
                if resp.status >= 400:
                    raise errors.from_status(json.loads(await resp.read() or b"{}"))
                with display_for() as display:
                    async for line in resp.content:
                        if line.strip():
                            event = json.loads(line)
                            display.feed(event)
                            outcome = str(event.get("outcome", outcome))
        except aiohttp.ClientError as exc:
            raise errors.InternalError(f"cannot reach the API server: {exc}") from None
        finally:
            await client.close()
        return 0 if outcome == "Synced" else 1

    raise SystemExit(_run(main, debug))


@click.command(hidden=True)
@_DATA
@click.argument("name", type=click.Choice(["pre-receive", "post-receive"]))
def hook(data_dir: Path | None, name: str) -> None:
    """Run a hook of the hosted repository (called by git)."""
    from gitkube.engine.hooks import run_hook

    try:
        raise SystemExit(run_hook(name, _data_dir(data_dir)))
    except errors.GitkubeError as exc:
        click.echo(f"gitkube: error: {exc}", err=True)
        raise SystemExit(1 if name == "pre-receive" else 0) from None


COMMANDS = [diff, apply, status, history, rollback, hook]
