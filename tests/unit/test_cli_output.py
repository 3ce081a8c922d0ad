"""The terminal output of the GitOps commands: the live progress view of ``gitkube apply`` and
``gitkube rollback`` fed recorded progress events, the plain lines when stdout is not a terminal,
``-o json|yaml`` on the read commands' options, and user errors as one line without a traceback."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from rich.console import Console
from rich.segment import Segment

from gitkube import cli_gitops
from gitkube.cli_progress import LiveDisplay, PlainDisplay, SyncView, display_for

PLAN = """+ create Deployment.apps shop/web  (shop/web.yaml:1:1)
+apiVersion: apps/v1
+kind: Deployment

ACTION  OBJECT                      WAVE  SOURCE
create  Deployment.apps shop/web    1     shop/web.yaml:1:1
Plan: 4 to create, 0 to update, 1 to delete, 0 unchanged
"""

# What the syncer and the engine emit for a push that syncs (gitkube/sync/syncer.py, engine/daemon.py).
SYNCED: list[dict[str, Any]] = [
    {"type": "start", "message": "syncing 0123456789ab 'shop v1' (apply)", "t": 0.0, "commit": "0123456789ab" * 3},
    {"type": "plan", "message": PLAN, "t": 0.1, "plan": {"create": 4, "update": 0, "delete": 1, "unchanged": 0}},
    {"type": "wave", "message": "wave 1/2: 2 object(s)", "t": 0.2, "wave": 1, "objects": 2},
    {"type": "apply", "message": "Namespace shop created", "t": 0.3, "object": "Namespace shop", "action": "create"},
    {"type": "apply", "message": "ConfigMap shop/settings configured", "t": 0.3,
     "object": "ConfigMap shop/settings", "action": "update"},
    {"type": "health", "message": "wave 1/2 healthy", "t": 0.5, "wave": 1, "status": "Healthy"},
    {"type": "wave", "message": "wave 2/2: 2 object(s)", "t": 0.6, "wave": 2, "objects": 2},
    {"type": "apply", "message": "Deployment.apps shop/web created", "t": 0.7,
     "object": "Deployment.apps shop/web", "action": "create"},
    {"type": "apply", "message": "Service shop/web created", "t": 0.7, "object": "Service shop/web", "action": "create"},
    {"type": "health", "message": "Deployment.apps shop/web: Progressing: 0 of 1 updated replicas are available",
     "t": 1.0, "object": "Deployment.apps shop/web", "status": "Progressing"},
]
SYNCED_END: list[dict[str, Any]] = [
    {"type": "health", "message": "wave 2/2 healthy", "t": 3.1, "wave": 2, "status": "Healthy"},
    {"type": "health", "message": "1 Service(s) have ready endpoints", "t": 3.4, "status": "Healthy"},
    {"type": "prune", "message": "ConfigMap shop/old deleted", "t": 3.5, "object": "ConfigMap shop/old"},
    {"type": "outcome", "message": "Synced 0123456789ab", "t": 3.6, "outcome": "Synced", "commit": "0123456789ab"},
]
ROLLED_BACK: list[dict[str, Any]] = [
    {"type": "start", "message": "syncing fedcba987654 'typo' (apply)", "t": 0.0},
    {"type": "wave", "message": "wave 1/1: 1 object(s)", "t": 0.2, "wave": 1, "objects": 1},
    {"type": "apply", "message": "Deployment.apps shop/web configured", "t": 0.3,
     "object": "Deployment.apps shop/web", "action": "update"},
    {"type": "health", "message": "Deployment.apps shop/web: Degraded: container app: CrashLoopBackOff", "t": 2.0,
     "object": "Deployment.apps shop/web", "status": "Degraded"},
    {"type": "rollback", "message": "health failed: web crashed; rolling back to 0123456789ab",
     "t": 2.1, "target": "0123456789ab" * 3},
    {"type": "wave", "message": "wave 1/1: 1 object(s)", "t": 2.2, "wave": 1, "objects": 1},
    {"type": "apply", "message": "Deployment.apps shop/web configured", "t": 2.3,
     "object": "Deployment.apps shop/web", "action": "update"},
    {"type": "health", "message": "wave 1/1 healthy", "t": 4.0, "wave": 1, "status": "Healthy"},
    {"type": "outcome", "message": "RolledBack fedcba987654 to 0123456789ab: web crashed", "t": 4.1,
     "outcome": "RolledBack", "commit": "fedcba987654", "rolled_back_to": "0123456789ab"},
]


def console(width: int = 120) -> Console:
    return Console(record=True, force_terminal=True, color_system="truecolor", width=width, file=io.StringIO())


def rendered(view: SyncView, width: int = 120) -> tuple[str, list[Segment]]:
    c = console(width)
    segments = list(c.render(view.render(), c.options))
    c.print(view.render())
    return c.export_text(), segments


def style_of(segments: list[Segment], text: str) -> str:
    found = [s for s in segments if text in s.text and s.style is not None]
    assert found, f"{text!r} not rendered"
    return str(found[0].style)


def line_with(text: str, needle: str) -> str:
    return next(line for line in text.splitlines() if needle in line)


def test_live_view_shows_each_objects_state_while_the_sync_runs() -> None:
    view = SyncView()
    printed = [item for event in SYNCED for item in view.feed(event)]
    assert [str(p).splitlines()[0] for p in printed] == ["syncing 0123456789ab 'shop v1' (apply)",
                                                         "+ create Deployment.apps shop/web  (shop/web.yaml:1:1)"]
    text, segments = rendered(view)
    # wave 1 is done: one line, its objects folded
    assert "Healthy" in line_with(text, "wave 1/2") and "0.3s" in line_with(text, "wave 1/2")
    assert "Namespace shop" not in text
    # wave 2 is open: each object with its state, the Deployment with its message
    assert "waiting for health" in line_with(text, "wave 2/2")
    deployment = line_with(text, "Deployment.apps shop/web")
    assert "Progressing" in deployment and "0 of 1 updated replicas are available" in deployment
    assert "created" in line_with(text, "Service shop/web")
    assert "yellow" in style_of(segments, "Progressing")


def test_live_view_folds_healthy_waves_and_reports_services_and_prunes() -> None:
    view = SyncView()
    for event in SYNCED + SYNCED_END:
        view.feed(event)
    text, _ = rendered(view)
    assert "Healthy" in line_with(text, "wave 2/2") and "2.5s" in line_with(text, "wave 2/2")
    assert "Deployment.apps shop/web" not in text  # wave 2 is healthy, Service included: folded
    assert "Healthy" in line_with(text, "1 Service(s) have ready endpoints")
    assert "deleted" in line_with(text, "ConfigMap shop/old")
    line = view.outcome_line()
    assert line is not None and line.plain == "Synced 0123456789ab" and "green" in str(line.style)


def test_a_service_waits_for_endpoints_after_its_wave() -> None:
    view = SyncView()
    for event in SYNCED + SYNCED_END[:1]:
        view.feed(event)
    text, _ = rendered(view)
    assert "waiting for endpoints" in line_with(text, "Service shop/web")


def test_live_view_shows_degraded_in_red_and_the_rollback_phase() -> None:
    view = SyncView()
    for event in ROLLED_BACK[:4]:
        view.feed(event)
    text, segments = rendered(view)
    assert "Degraded" in line_with(text, "Deployment.apps shop/web")
    assert "container app: CrashLoopBackOff" in line_with(text, "Deployment.apps shop/web")
    assert "red" in style_of(segments, "Degraded") and "red" in style_of(segments, "CrashLoopBackOff")
    printed = [item for event in ROLLED_BACK[4:] for item in view.feed(event)]
    assert [str(p) for p in printed] == ["health failed: web crashed; rolling back to 0123456789ab"]
    text, segments = rendered(view)
    assert "Failed" in line_with(text, "wave 1/1")  # the failed wave of the sync
    assert "red" in style_of(segments, "Failed")
    assert "rollback to 0123456789ab" in text
    lines = text.splitlines()
    after = lines[next(i for i, line in enumerate(lines) if "rollback to" in line) + 1]
    assert "wave 1/1" in after and "Healthy" in after
    line = view.outcome_line()
    assert line is not None and line.plain.startswith("RolledBack fedcba987654") and "yellow" in str(line.style)


def test_large_waves_are_summed_and_long_waves_capped() -> None:
    view = SyncView()
    view.feed({"type": "wave", "message": "wave 1/1: 500 object(s)", "t": 0, "wave": 1, "objects": 500})
    view.feed({"type": "apply", "message": "500 objects applied", "t": 1, "count": 500})
    for i in range(40):
        view.feed({"type": "health", "message": f"ConfigMap a/c{i}: Progressing: x", "t": 2,
                   "object": f"ConfigMap a/c{i}", "status": "Progressing"})
    text, _ = rendered(view)
    assert "500 objects applied" in text and "… and 10 more" in text
    assert "waiting for health" in line_with(text, "wave 1/1")


def test_live_display_ends_with_the_outcome_line() -> None:
    c = console()
    with LiveDisplay(c, refresh_per_second=50) as display:
        for event in SYNCED + SYNCED_END:
            display.feed(event)
    text = c.export_text()
    assert text.rstrip().splitlines()[-1] == "Synced 0123456789ab"
    assert "syncing 0123456789ab 'shop v1' (apply)" in text and "Plan: 4 to create" in text
    assert "wave 2/2" in text


def test_plain_mode_prints_the_messages_unchanged(capsys: pytest.CaptureFixture[str]) -> None:
    display = display_for(is_terminal=False)
    assert isinstance(display, PlainDisplay)
    with display:
        for event in ROLLED_BACK:
            display.feed(event)
    out = capsys.readouterr().out
    assert out == "".join(f"{e['message']}\n" for e in ROLLED_BACK)
    assert "\x1b[" not in out


def test_a_terminal_gets_the_live_display() -> None:
    assert isinstance(display_for(is_terminal=True), LiveDisplay)


@pytest.mark.parametrize("command", [cli_gitops.diff, cli_gitops.status, cli_gitops.history])
def test_read_commands_offer_json_and_yaml(command: click.Command) -> None:
    [option] = [p for p in command.params if p.name == "output"]
    assert isinstance(option.type, click.Choice)
    assert {"json", "yaml"} <= set(option.type.choices)


@pytest.mark.parametrize("args", [["status"], ["history"], ["rollback"], ["status", "-o", "json"]])
def test_no_daemon_is_one_line_with_a_hint(tmp_path: Path, args: list[str]) -> None:
    command = {c.name: c for c in cli_gitops.COMMANDS}[args[0]]
    result = CliRunner().invoke(command, [*args[1:], "--data-dir", str(tmp_path)])
    assert result.exit_code == 3
    assert "Traceback" not in result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "gitkube up" in lines[0], result.output


def test_debug_shows_the_exception(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli_gitops.status, ["--data-dir", str(tmp_path), "--debug"])
    assert result.exit_code != 0 and result.exception is not None
    assert "no such kubeconfig" in str(result.exception)
