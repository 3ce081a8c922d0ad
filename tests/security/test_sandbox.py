"""A pod cannot read the daemon's data dir (tokens, keys, state.db, age.key) nor another pod's
volumes, even when it asks for host directories through its ``PATH`` (every PATH directory that
exists on the host is bound read-only into the sandbox).

Pod "holder" keeps a marker in its emptyDir. Pod "prober" then tries every path to the data dir
and to the holder's volume it can think of - plain paths, host ``/proc`` views of the daemon, PATH
entries naming the data dir, its parents, ``/`` and ``/proc`` - and prints one line per attempt.
"""

from __future__ import annotations

import json
import sys
import uuid

import pytest

from tests.e2e.test_kubectl import get_json, wait_for
from tests.security.conftest import Sec

pytestmark = pytest.mark.e2e

NS = "sec-sandbox"
MARKER = f"holder-marker-{uuid.uuid4().hex}"

PROBE = r"""
import os, sys
paths = sys.argv[1:]
for p in paths:
    try:
        if os.path.isdir(p):
            names = os.listdir(p)
            print("LISTED", p, len(names), flush=True)
        else:
            with open(p, "rb") as f:
                data = f.read(4096)
            print("READ", p, data[:200], flush=True)
    except OSError as exc:
        print("DENIED", p, exc.errno, flush=True)
print("DONE", flush=True)
"""


def _pod(name: str, argv: list[str], *, path_env: str | None = None, volume: bool = False) -> str:
    env = [{"name": "PATH", "value": path_env}] if path_env else []
    container: dict = {"name": "c", "image": "python:3.11", "command": argv, "env": env}
    spec: dict = {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [container]}
    if volume:
        container["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
        spec["volumes"] = [{"name": "data", "emptyDir": {}}]
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS}, "spec": spec})


def _finished_log(sec: Sec, name: str) -> str:
    def done() -> str:
        log = sec.kubectl.run("-n", NS, "logs", name, check=False).stdout
        return log if "DONE" in log else ""
    return str(wait_for(done, timeout=60, what=f"pod {name} to finish its probes"))


def test_pods_cannot_read_the_data_dir_or_other_pods_volumes(sec: Sec) -> None:
    sec.kubectl.run("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Namespace",
                                                         "metadata": {"name": NS}}))
    keep = f"open('/data/marker','w').write({MARKER!r}); import time; time.sleep(3600)"
    sec.kubectl.run("apply", "-f", "-", input=_pod("holder", [sys.executable, "-c", keep], volume=True))
    try:
        wait_for(lambda: get_json(sec.kubectl, "-n", NS, "pod", "holder").get("status", {}).get("phase") == "Running",
                 timeout=60, what="holder Running")
    except AssertionError:
        print(sec.kubectl.run("-n", NS, "get", "pod", "holder", "-o", "yaml").stdout)
        print(sec.kubectl.run("-n", NS, "get", "events").stdout)
        raise
    data = sec.data.resolve()
    holder_dirs = [p for p in (data / "pods").iterdir() if p.name.startswith(f"{NS}_holder_")]
    assert holder_dirs, list((data / "pods").iterdir())
    markers = wait_for(lambda: [p for p in holder_dirs[0].rglob("marker") if p.is_file() and p.read_text() == MARKER],
                       timeout=20, what="the holder's marker on the host")
    daemon_pid = sec.daemon.proc.pid
    secrets = [data / "age.key", data / "tokens", data / "kubeconfig", data / "pki" / "ca.key",
               data / "pki" / "encryption.key", data / "state.db"]
    targets = [str(data), str(data / "pki"), str(data / "pods"), str(holder_dirs[0]), str(markers[0]),
               *(str(p) for p in secrets if p.exists()),
               *(f"/proc/{daemon_pid}/root{p}" for p in (markers[0], data / "age.key", data / "tokens")),
               f"/proc/{daemon_pid}/environ", f"/proc/{daemon_pid}/cmdline"]
    # PATH entries the sandbox binds from the host: the data dir itself, its parent, /, /proc
    attempts = {
        "plain": None,
        "path-data": f"/usr/bin:{data}:{data / 'pods'}:{holder_dirs[0]}",
        "path-parent": f"/usr/bin:{data.parent}:{data.parent.parent}",
        "path-root": "/usr/bin:/",
        "path-proc": "/usr/bin:/proc:/sys",
    }
    for suffix, path_env in attempts.items():
        name = f"prober-{suffix}"
        sec.kubectl.run("apply", "-f", "-", input=_pod(name, [sys.executable, "-c", PROBE, *targets],
                                                       path_env=path_env))
        phase = wait_for(lambda n=name: _phase_or_failure(sec, n), timeout=60, what=f"{name} to run")
        if phase == "CannotRun":
            continue  # refused to start at all: nothing read
        log = _finished_log(sec, name)
        # an empty listing is the tmpfs that masks the data dir below a bound PATH directory
        leaked = [line for line in log.splitlines()
                  if line.startswith("READ") or (line.startswith("LISTED") and not line.endswith(" 0"))]
        assert not leaked, f"{name} (PATH={path_env}) reached host files:\n" + "\n".join(leaked)
        assert MARKER not in log
        assert log.count("DENIED") + log.count("LISTED") == len(targets), log


def _phase_or_failure(sec: Sec, name: str) -> str:
    pod = get_json(sec.kubectl, "-n", NS, "pod", name)
    status = pod.get("status", {})
    for cs in status.get("containerStatuses") or []:
        waiting = (cs.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in ("ContainerCannotRun", "CreateContainerError", "RunContainerError"):
            return "CannotRun"
        terminated = (cs.get("state") or {}).get("terminated") or {}
        if terminated.get("reason") in ("ContainerCannotRun", "StartError"):
            return "CannotRun"
    phase = status.get("phase", "")
    return phase if phase in ("Running", "Succeeded", "Failed") else ""
