"""The bubblewrap sandbox: what a container can see, write and be, with real sandboxes."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import textwrap
from pathlib import Path

import pytest

from gitkube import errors
from gitkube.agent import sandbox
from gitkube.agent.runtime import BubblewrapRuntime, ProcessRuntime, bwrap_works
from gitkube.agent.runtime_api import ContainerSpec, Mount
from gitkube.testing.runtime import container_spec

needs_bwrap = pytest.mark.skipif(not bwrap_works(Path("/nonexistent-gitkube-data")),
                                 reason="bwrap is not installed or cannot create sandboxes here")


def py(data: Path, code: str, **fields: object) -> ContainerSpec:
    return container_spec(data, ["python3", "-c", textwrap.dedent(code)], **fields)  # type: ignore[arg-type]


async def run_json(runtime: BubblewrapRuntime | ProcessRuntime, spec: ContainerSpec) -> object:
    status = await asyncio.wait_for((await runtime.start(spec)).wait(), 20)
    lines = [line.split(" ", 3)[3] for line in spec.log_path.read_text().splitlines()]
    assert status.exit_code == 0, lines
    return json.loads(lines[-1])


@needs_bwrap
async def test_data_dir_and_root_are_invisible(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secret").write_text("token")
    host_root = sorted(os.listdir("/root"))
    spec = py(data, f"""
        import json, os
        print(json.dumps({{"data": os.path.exists({str(data)!r}), "secret": os.path.exists({str(data / 'secret')!r}),
                          "root": sorted(os.listdir("/root")), "top": sorted(os.listdir("/")),
                          "home": os.path.exists("/home"), "work": os.path.exists("/work")}}))
    """)
    seen = await run_json(BubblewrapRuntime(data), spec)
    assert isinstance(seen, dict)
    assert seen["data"] is False and seen["secret"] is False
    assert seen["home"] is False and seen["work"] is False
    assert set(seen["top"]) <= {"usr", "bin", "sbin", "lib", "lib64", "lib32", "libx32", "etc", "tmp", "dev",
                                "proc", "root", "opt"}
    # only what the Python prefix needs below /root (e.g. .pyenv), nothing else from the host's /root
    assert set(seen["root"]) <= {".pyenv"} and len(seen["root"]) < len(host_root)


@needs_bwrap
async def test_mounts_read_only_and_read_write(tmp_path: Path) -> None:
    data = tmp_path / "data"
    ro, rw = data / "vol" / "config", data / "vol" / "scratch"
    ro.mkdir(parents=True)
    rw.mkdir(parents=True)
    (ro / "app.conf").write_text("answer=42")
    spec = py(data, """
        import json
        result = {"read": open("/etc/app/app.conf").read()}
        try:
            open("/etc/app/new", "w")
            result["ro_write"] = "allowed"
        except OSError as exc:
            result["ro_write"] = exc.strerror
        open("/scratch/out", "w").write("written inside")
        print(json.dumps(result))
    """, mounts=(Mount(ro, "/etc/app", read_only=True), Mount(rw, "/scratch")))
    seen = await run_json(BubblewrapRuntime(data), spec)
    assert seen == {"read": "answer=42", "ro_write": "Read-only file system"}
    assert (rw / "out").read_text() == "written inside"
    assert not (ro / "new").exists()


@needs_bwrap
async def test_tmp_is_private_per_sandbox(tmp_path: Path) -> None:
    data = tmp_path / "data"
    runtime = BubblewrapRuntime(data)
    writer = py(data, """
        import json, os
        open("/tmp/shared?", "w").write("x")
        print(json.dumps(os.listdir("/tmp")))
    """, name="writer")
    reader = py(data, """
        import json, os
        print(json.dumps(os.listdir("/tmp")))
    """, name="reader")
    assert await run_json(runtime, writer) == ["shared?"]
    assert await run_json(runtime, reader) == []
    assert not Path("/tmp/shared?").exists()


@needs_bwrap
async def test_pid_namespace_hostname_and_clean_env(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = py(data, """
        import json, os, socket
        print(json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "env": sorted(os.environ),
                          "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit())}))
    """, pod_name="my-pod")
    seen = await run_json(BubblewrapRuntime(data), spec)
    assert isinstance(seen, dict)
    assert seen["pid"] in (1, 2)
    assert seen["procs"] == [1, 2] or seen["procs"] == [1]
    assert seen["host"] == "my-pod"
    assert set(seen["env"]) - {"LC_CTYPE", "PWD"} == {"PATH"}  # python adds LC_CTYPE, bwrap PWD


@pytest.mark.skipif(os.geteuid() != 0, reason="changing to another uid needs root")
@pytest.mark.parametrize("kind", ["bubblewrap", "process"])
async def test_run_as_user_really_drops_root(kind: str, tmp_path: Path) -> None:
    if kind == "bubblewrap" and not bwrap_works(Path("/nonexistent")):
        pytest.skip("bwrap is not usable here")
    data = tmp_path / "data"
    data.mkdir()
    tmp_path.chmod(0o755)
    data.chmod(0o755)
    rootonly = data / "rootonly"
    rootonly.mkdir(mode=0o700)
    runtime = BubblewrapRuntime(data) if kind == "bubblewrap" else ProcessRuntime(data)
    spec = py(data, """
        import json, os
        try:
            os.setuid(0)
            regained = True
        except PermissionError:
            regained = False
        caps = [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]
        print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
                          "groups": os.getgroups(), "regained": regained, "caps": caps}))
    """, run_as_user=65534, run_as_group=65533)
    if kind == "process":  # on the host, /root (and a pyenv Python below it) is closed to nobody
        if not os.access("/usr/bin/python3", os.X_OK):
            pytest.skip("no system python3 an unprivileged user can run")
        spec = dataclasses.replace(spec, argv=("/usr/bin/python3", *spec.argv[1:]))
    seen = await run_json(runtime, spec)
    assert seen == {"uid": 65534, "euid": 65534, "gid": 65533, "groups": [], "regained": False,
                    "caps": ["0000000000000000"]}


@needs_bwrap
async def test_root_in_sandbox_has_no_capabilities(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = py(data, """
        import json
        print(json.dumps([l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")]))
    """)
    assert await run_json(BubblewrapRuntime(data), spec) == ["0000000000000000"]


def test_view_maps_mounts_and_system_dirs(tmp_path: Path) -> None:
    vol = tmp_path / "vol"
    spec = container_spec(tmp_path / "data", ["true"], mounts=(Mount(vol, "/data"),))
    view = sandbox.sandbox_view(spec, tmp_path / "data")
    assert view.host_path("/data/x/y") == f"{vol}/x/y"
    assert view.host_path("/usr/bin/env") == "/usr/bin/env"
    assert view.host_path("/var/lib/anything") is None
    assert view.host_path("/bin/sh") == os.path.realpath("/bin") + "/sh" or view.host_path("/bin/sh") == "/bin/sh"
    argv = sandbox.bwrap_argv(spec, view, ["true"])
    assert argv[:2] == ["bwrap", "--tmpfs"]
    assert "--unshare-pid" in argv and "--die-with-parent" in argv and "--unshare-net" not in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert str(tmp_path / "data") not in " ".join(argv)


def test_data_dir_below_a_bound_dir_is_masked(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    data = venv / "bin" / "state"
    spec = container_spec(data, ["true"], env=(("PATH", f"{venv}/bin:/usr/bin"),))
    view = sandbox.sandbox_view(spec, data)
    assert view.masks == (str(data),)
    argv = sandbox.bwrap_argv(spec, view, ["true"])
    assert argv[argv.index(str(data)) - 1] == "--tmpfs"


def test_resolve_command_against_the_view(tmp_path: Path) -> None:
    bindir = tmp_path / "vol"
    bindir.mkdir()
    tool = bindir / "tool"
    tool.write_text("#!/bin/sh\n")
    tool.chmod(0o755)
    spec = container_spec(tmp_path / "data", ["tool"], env=(("PATH", "/opt/bin:/usr/bin"),),
                          mounts=(Mount(bindir, "/opt/bin"),))
    view = sandbox.sandbox_view(spec, tmp_path / "data")
    assert sandbox.resolve_command(spec, view) == "/opt/bin/tool"
    with pytest.raises(errors.RuntimeFailure, match="executable file not found"):
        sandbox.resolve_command(spec, None)  # not on the host's /opt/bin
    hidden = container_spec(tmp_path / "data", [str(tool)])
    with pytest.raises(errors.RuntimeFailure, match="no such file or directory"):
        sandbox.resolve_command(hidden, sandbox.sandbox_view(hidden, tmp_path / "data"))
    assert sandbox.resolve_command(hidden, None) == str(tool)


@needs_bwrap
@pytest.mark.skipif(os.geteuid() != 0, reason="changing to another uid needs root")
async def test_exec_runs_in_the_containers_view_as_its_user(tmp_path: Path) -> None:
    data = tmp_path / "data"
    spec = py(data, "import time; open('/tmp/ready', 'w').close(); print('ready', flush=True); time.sleep(600)",
              run_as_user=65534, working_dir="/usr/lib")
    container = await BubblewrapRuntime(data).start(spec)
    try:
        for _ in range(200):
            if "ready" in spec.log_path.read_text():
                break
            await asyncio.sleep(0.02)
        code, output = await container.exec(
            ["sh", "-c", f"id -u; pwd; ls /tmp; test -e {data} && echo data-visible; grep CapEff /proc/self/status"],
            timeout=10)
        assert code == 0, output
        assert output.decode().split("\n")[:3] == ["65534", "/usr/lib", "ready"]
        assert "data-visible" not in output.decode()
        assert output.decode().split()[-1] == "0000000000000000"
    finally:
        await container.stop(0)


@needs_bwrap
async def test_unsandboxed_container_in_the_bubblewrap_runtime(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    spec = py(data, f"import json, os; print(json.dumps(os.path.exists({str(data)!r})))", sandbox=False)
    runtime = BubblewrapRuntime(data)
    container = await runtime.start(spec)
    assert container.sandboxed is False
    assert (await asyncio.wait_for(container.wait(), 20)).exit_code == 0
    assert spec.log_path.read_text().split(" ", 3)[3] == "true\n"


@pytest.mark.parametrize("kind", ["bubblewrap", "process"])
async def test_shim_killed_leaves_a_status_unknown(kind: str, tmp_path: Path) -> None:
    if kind == "bubblewrap" and not bwrap_works(Path("/nonexistent")):
        pytest.skip("bwrap is not usable here")
    data = tmp_path / "data"
    runtime = BubblewrapRuntime(data) if kind == "bubblewrap" else ProcessRuntime(data)
    spec = py(data, "import time; time.sleep(0.5)")
    container = await runtime.start(spec)
    pid_info = json.loads((spec.pod_dir / "runtime" / "app" / "0" / "pid.json").read_text())
    os.kill(pid_info["shim_pid"], signal.SIGKILL)
    status = await asyncio.wait_for(container.wait(), 20)
    assert (status.exit_code, status.reason) == (137, "ContainerStatusUnknown")
    last = await runtime.last_exit(spec)
    assert last is not None and last.reason == "ContainerStatusUnknown"
