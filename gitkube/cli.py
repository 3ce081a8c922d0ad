"""The ``gitkube`` command line (click). A thin layer: parse flags, call ``gitkube.app`` (``up``,
``node run``) or the GitOps commands of ``gitkube.cli_gitops``. Heavy modules are imported inside
the commands that need them, so ``gitkube diff`` does not load the whole control plane."""

from __future__ import annotations

import socket
from pathlib import Path

import click

from gitkube import __version__, cli_gitops, cli_secrets, errors
from gitkube.observability import logs
from gitkube.util import duration
from gitkube.util.datadir import default_data_dir

__all__ = ["cli", "main"]


def _seconds(value: str, flag: str) -> float:
    try:
        return duration.parse(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=flag) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="gitkube")
@click.option("--log-level", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]), help="Log verbosity.")
@click.option("--log-format", default="text", show_default=True, type=click.Choice(logs.FORMATS),
              help="Log lines (and the daemon's console) as text or as one JSON object per line.")
def cli(log_level: str, log_format: str) -> None:
    """gitkube: GitOps with a built-in Kubernetes control plane."""
    logs.configure(log_level, log_format)


_DATA_DIR = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                         help="State directory [default: $GITKUBE_DATA_DIR or ~/.local/share/gitkube].")


@cli.command()
@_DATA_DIR
@click.option("--listen", default="127.0.0.1:6443", show_default=True, help="HOST:PORT of the HTTPS API.")
@click.option("--store", "store_url", default="sqlite", show_default=True,
              help="Store backend: sqlite (DATA/state.db), sqlite:///FILE, or etcd://HOST:PORT[,HOST:PORT...][/prefix].")
@click.option("--service-cidr", default="127.96.0.0/16", show_default=True,
              help="Loopback range Service cluster IPs are allocated from.")
@click.option("--cluster-cidr", default="127.64.0.0/10", show_default=True,
              help="Loopback range pod IPs come from (a /24 per node).")
@click.option("--history", default=10000, show_default=True, type=click.IntRange(1),
              help="Revisions of change history kept for watches to resume from.")
@click.option("--compaction-interval", default="5m", show_default=True,
              help="How often history beyond --history is compacted (e.g. 30s, 5m).")
@click.option("--node-name", default=None, help="Name of the local node [default: the host name].")
@click.option("--no-local-node", is_flag=True, help="Run no node agent in this process.")
@click.option("--node-monitor-grace-period", default="40s", show_default=True,
              help="How long a node may miss heartbeats before it is marked NotReady.")
@click.option("--pod-eviction-timeout", default="5m", show_default=True,
              help="How long pods stay on an unreachable node before they are evicted.")
@click.option("--crashloop-backoff", default="10s", show_default=True,
              help="First CrashLoopBackOff delay (doubles up to 5m).")
@click.option("--repo", default=None, help="Manifests: a local repository PATH or a remote URL "
              "[default: the hosted DATA/repo.git, deployed to by git push].")
@click.option("--branch", default="main", show_default=True, help="Branch to follow.")
@click.option("--path", "subpath", default="", help="Directory of the manifests inside the repository.")
@click.option("--poll-interval", default="30s", show_default=True, help="How often a remote --repo URL is fetched.")
@click.option("--rollout-timeout", default="120s", show_default=True,
              help="How long a sync may take to become healthy before it is rolled back.")
@click.option("--target-kubeconfig", type=click.Path(dir_okay=False, exists=True, path_type=Path), default=None,
              help="Apply to this cluster instead of the built-in control plane.")
@click.option("--no-self-heal", is_flag=True, help="Report drift but do not revert it.")
@click.option("--allow-empty", is_flag=True, help="Let an empty desired set prune everything gitkube owns.")
@click.option("--ingress-listen", default=None, metavar="HOST:PORT",
              help="Serve Ingresses (class gitkube or none) over HTTP on HOST:PORT [default: off].")
@click.option("--ingress-tls-listen", default=None, metavar="HOST:PORT",
              help="Also serve their spec.tls hosts over HTTPS on HOST:PORT (needs --ingress-listen).")
@click.option("--metric-resolution", default="15s", show_default=True,
              help="How often the local node samples pod and node metrics (kubectl top, HPA).")
@click.option("--horizontal-pod-autoscaler-sync-period", "hpa_sync_period", default="15s", show_default=True,
              help="How often each HorizontalPodAutoscaler is reconciled.")
@click.option("--age-key", "age_keys", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Another age identity file that may decrypt *.sops.yaml files (repeatable; "
              "$SOPS_AGE_KEY_FILE is read too). DATA/age.key is always used.")
@click.option("--notify-url", "notify_urls", multiple=True, metavar="URL",
              help="POST a JSON document here on each sync outcome, rollback and drift (repeatable).")
@click.option("--notify-secret", default=None, envvar="GITKUBE_NOTIFY_SECRET",
              help="Sign notifications with HMAC-SHA256 in X-Hub-Signature-256 [env: GITKUBE_NOTIFY_SECRET].")
@click.option("--max-connections-per-client", default=512, show_default=True, type=click.IntRange(0),
              help="Open connections one client address may hold on the API port (0: no limit).")
@click.option("--max-inflight-per-client", default=400, show_default=True, type=click.IntRange(0),
              help="Requests one client address may have in flight, watches aside (0: no limit).")
@click.option("--max-watches-per-client", default=500, show_default=True, type=click.IntRange(0),
              help="Watches and other long-running requests one client address may hold open (0: no limit).")
def up(data_dir: Path | None, listen: str, store_url: str, service_cidr: str, cluster_cidr: str, history: int,
       compaction_interval: str, node_name: str | None, no_local_node: bool, node_monitor_grace_period: str,
       pod_eviction_timeout: str, crashloop_backoff: str, repo: str | None, branch: str, subpath: str,
       poll_interval: str, rollout_timeout: str, target_kubeconfig: Path | None, no_self_heal: bool,
       allow_empty: bool, ingress_listen: str | None, ingress_tls_listen: str | None,
       metric_resolution: str, hpa_sync_period: str, age_keys: tuple[Path, ...], notify_urls: tuple[str, ...],
       notify_secret: str | None, max_connections_per_client: int, max_inflight_per_client: int,
       max_watches_per_client: int) -> None:
    """Start the daemon: the built-in control plane, a local node and the GitOps engine."""
    from gitkube import app  # the composition root: heavy, so only the commands that run it import it
    from gitkube.apiserver.limits import ClientLimits

    if ingress_tls_listen and not ingress_listen:
        raise click.BadParameter("needs --ingress-listen as well", param_hint="--ingress-tls-listen")

    settings = app.Settings(
        data_dir=data_dir or default_data_dir(), listen=listen, store=store_url, service_cidr=service_cidr,
        cluster_cidr=cluster_cidr, history=history,
        compaction_interval=_seconds(compaction_interval, "--compaction-interval"),
        node_name=node_name or socket.gethostname(), local_node=not no_local_node,
        node_grace_period=_seconds(node_monitor_grace_period, "--node-monitor-grace-period"),
        pod_eviction_timeout=_seconds(pod_eviction_timeout, "--pod-eviction-timeout"),
        crashloop_base=_seconds(crashloop_backoff, "--crashloop-backoff"),
        repo=repo, branch=branch, path=subpath, poll_interval=_seconds(poll_interval, "--poll-interval"),
        rollout_timeout=_seconds(rollout_timeout, "--rollout-timeout"), target_kubeconfig=target_kubeconfig,
        self_heal=not no_self_heal, allow_empty=allow_empty,
        metrics_interval=_seconds(metric_resolution, "--metric-resolution"),
        hpa_sync_period=_seconds(hpa_sync_period, "--horizontal-pod-autoscaler-sync-period"),
        ingress_listen=ingress_listen, ingress_tls_listen=ingress_tls_listen, age_keys=list(age_keys),
        log_format=click.get_current_context().find_root().params.get("log_format") or "text",
        notify_urls=list(notify_urls), notify_secret=notify_secret,
        client_limits=ClientLimits(max_connections=max_connections_per_client, max_inflight=max_inflight_per_client,
                                   max_watches=max_watches_per_client),
    )
    raise SystemExit(app.run_up(settings))


@cli.group()
def node() -> None:
    """Node agents."""


@node.command("run")
@click.option("--name", required=True, help="Node name.")
@click.option("--capacity", default="", help="Advertised capacity, e.g. cpu=2,memory=4Gi,pods=50 "
              "[default: read from the machine].")
@click.option("--kubeconfig", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Control plane to join [default: DATA/kubeconfig].")
@_DATA_DIR
@click.option("--simulated", is_flag=True, help="Start no processes: pods are marked Running (benchmarks only).")
@click.option("--crashloop-backoff", default="10s", show_default=True, help="First CrashLoopBackOff delay.")
@click.option("--heartbeat-interval", default="10s", show_default=True,
              help="How often the node renews its lease (keep it well below the control plane's grace period).")
def node_run(name: str, capacity: str, kubeconfig: Path | None, data_dir: Path | None, simulated: bool,
             crashloop_backoff: str, heartbeat_interval: str) -> None:
    """Start another node agent that joins a running control plane over HTTPS."""
    from gitkube import app

    data = data_dir or default_data_dir()
    try:
        caps = app.parse_capacity(capacity)
    except errors.ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--capacity") from None
    settings = app.NodeSettings(name=name, kubeconfig=kubeconfig or data / "kubeconfig", data_dir=data,
                                capacity=caps, simulated=simulated,
                                crashloop_base=_seconds(crashloop_backoff, "--crashloop-backoff"),
                                heartbeat_interval=_seconds(heartbeat_interval, "--heartbeat-interval"))
    raise SystemExit(app.run_node(settings))


for _command in [*cli_gitops.COMMANDS, *cli_secrets.COMMANDS]:
    cli.add_command(_command)


def main() -> None:
    cli()
