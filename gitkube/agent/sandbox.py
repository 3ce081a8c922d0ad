"""The bubblewrap sandbox of a container, and what the container sees through it.

``gitkube.agent.runtime`` calls :func:`bwrap_argv` to build the ``bwrap`` command line for a
container (or for an exec into its view) and :func:`resolve_command` /
:func:`check_working_dir` before launching, so that a missing command fails ``start()`` with
``ContainerCannotRun`` worded as containerd words it rather than as a crashed container.

The sandbox root is a tmpfs. Read-only binds give it ``/usr`` (and the ``/bin``, ``/lib*``
symlinks or directories), the ``/etc`` files commands need, the Python prefix, and every
directory on the container's ``PATH`` that exists on the host. The pod's volumes are bound at
their mount paths. ``/tmp`` is a private tmpfs, ``/dev`` and ``/proc`` are fresh. The agent's
data directory is never bound (it is masked with a tmpfs if it lies below a bound directory).
The sandbox has its own PID and UTS namespaces but the host network; all capabilities are
dropped, and ``setpriv`` switches to ``run_as_user`` for real.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from gitkube import errors
from gitkube.agent.runtime_api import ContainerSpec

__all__ = [
    "ETC_FILES",
    "View",
    "bwrap_argv",
    "check_working_dir",
    "resolve_command",
    "sandbox_view",
    "setpriv_prefix",
]

SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
ETC_FILES = (
    "/etc/resolv.conf", "/etc/hosts", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
    "/etc/host.conf", "/etc/gai.conf", "/etc/services", "/etc/protocols", "/etc/localtime",
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/ssl", "/etc/ca-certificates",
    "/etc/pki", "/etc/alternatives", "/etc/mime.types", "/etc/os-release", "/etc/debian_version",
    "/etc/timezone",
)
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Never bound from a container's PATH: the host root (it would bring the host's /proc, /tmp and
# every home directory) and the kernel's virtual file systems (host processes and devices).
_NEVER_BOUND = ("/proc", "/sys", "/dev")


def _under(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


@dataclass(frozen=True)
class View:
    """Which host paths appear where inside a sandbox: ``(container path, host path, ro)``."""

    binds: tuple[tuple[str, str, bool], ...]
    symlinks: tuple[tuple[str, str], ...]  # (target, link path)
    masks: tuple[str, ...]  # host dirs hidden with a tmpfs (the data dir)

    def host_path(self, container_path: str) -> str | None:
        """Where ``container_path`` lives on the host, or None when it is on the sandbox's tmpfs."""
        path = os.path.normpath(container_path)
        for target, link in self.symlinks:
            if _under(path, link):
                path = os.path.normpath(os.path.join(os.path.dirname(link), target) + path[len(link):])
        best: tuple[str, str, bool] | None = None
        for dest, src, ro in self.binds:
            if _under(path, dest) and (best is None or len(dest) >= len(best[0])):
                best = (dest, src, ro)
        if best is None:
            return None
        return best[1] + path[len(best[0]):]


def _bindable(real: str) -> bool:
    return real != "/" and not any(_under(real, virtual) for virtual in _NEVER_BOUND)


def _env_path(spec: ContainerSpec) -> str:
    return dict(spec.env).get("PATH", DEFAULT_PATH)


def sandbox_view(spec: ContainerSpec, data_dir: Path) -> View:
    data = os.path.realpath(data_dir)
    binds: list[tuple[str, str, bool]] = []
    symlinks: list[tuple[str, str]] = []

    def covered(path: str) -> bool:
        return any(_under(path, dest) for dest, _s, _r in binds) or any(_under(path, link) for _t, link in symlinks)

    for directory in SYSTEM_DIRS:
        if os.path.islink(directory):
            symlinks.append((os.readlink(directory), directory))
        elif os.path.isdir(directory):
            binds.append((directory, directory, True))
    for name in ETC_FILES:
        if os.path.exists(name):
            binds.append((name, name, True))
    extra = [sys.base_prefix, sys.prefix] + [p for p in _env_path(spec).split(":") if p.startswith("/")]
    for directory in extra:
        directory = os.path.normpath(directory)
        real = os.path.realpath(directory)
        if not os.path.isdir(real) or covered(directory) or _under(real, data) or not _bindable(real):
            continue
        binds.append((directory, real, True))
    masks = tuple(dest + data[len(src):] for dest, src, _ro in binds if _under(data, src) and data != src)
    for mount in spec.mounts:
        binds.append((os.path.normpath(mount.container_path), str(mount.host_path), mount.read_only))
    return View(binds=tuple(binds), symlinks=tuple(symlinks), masks=masks)


def _cannot_run(message: str) -> errors.RuntimeFailure:
    return errors.RuntimeFailure(message, reason="ContainerCannotRun")


def _check_executable(name: str, host: str | None) -> None:
    if host is None or not os.path.exists(host):
        raise _cannot_run(f'exec: "{name}": stat {name}: no such file or directory')
    if os.path.isdir(host) or not os.access(host, os.X_OK):
        raise _cannot_run(f'exec: "{name}": permission denied')


def resolve_command(spec: ContainerSpec, view: View | None) -> str:
    """The path ``argv[0]`` runs as (inside ``view``, or on the host when ``view`` is None).

    Raises ``RuntimeFailure(reason="ContainerCannotRun")`` with containerd's wording.
    """
    if not spec.argv or not spec.argv[0]:
        raise _cannot_run("no command specified")
    name = spec.argv[0]

    def on_host(path: str) -> str | None:
        return view.host_path(path) if view is not None else path

    if "/" in name:
        if not name.startswith("/"):
            name_in = os.path.join(spec.working_dir or "/", name)
            _check_executable(name, on_host(name_in))
            return name
        _check_executable(name, on_host(name))
        return name
    for directory in _env_path(spec).split(":"):
        if not directory.startswith("/"):
            continue
        candidate = os.path.join(directory, name)
        host = on_host(candidate)
        if host is not None and os.path.isfile(host) and os.access(host, os.X_OK):
            return candidate
    raise _cannot_run(f'exec: "{name}": executable file not found in $PATH')


def check_working_dir(spec: ContainerSpec, view: View | None) -> None:
    """Raise ``ContainerCannotRun`` when the working directory cannot be entered."""
    if not spec.working_dir:
        return
    wd = spec.working_dir
    if view is None:
        ok = os.path.isdir(wd)
    else:
        host = view.host_path(wd)
        ok = host is None or os.path.isdir(host)  # on the tmpfs root bwrap creates it
    if not ok:
        raise _cannot_run(f'chdir to cwd ("{wd}") set in config.json failed: no such file or directory')


def setpriv_prefix(spec: ContainerSpec) -> list[str]:
    """``setpriv`` switching to ``run_as_user`` / ``run_as_group`` for real, or nothing."""
    if spec.run_as_user is None and spec.run_as_group is None:
        return []
    uid = spec.run_as_user if spec.run_as_user is not None else 0
    gid = spec.run_as_group if spec.run_as_group is not None else uid
    return ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--"]


def bwrap_argv(spec: ContainerSpec, view: View, command: list[str], *, bwrap: str = "bwrap") -> list[str]:
    """The full ``bwrap`` command line running ``command`` in the container's sandbox."""
    argv = [bwrap, "--tmpfs", "/", "--dev", "/dev", "--proc", "/proc", "--perms", "1777", "--tmpfs", "/tmp"]
    bound: list[str] = ["/dev", "/proc", "/tmp"]
    made: set[str] = set()

    def parents(dest: str) -> None:
        # bwrap creates missing parents 0700; make them 0755 so an unprivileged user can pass
        parts = [p for p in dest.split("/") if p][:-1]
        for i in range(1, len(parts) + 1):
            ancestor = "/" + "/".join(parts[:i])
            if ancestor in made or any(_under(ancestor, b) for b in bound):
                continue
            argv.extend(["--perms", "0755", "--dir", ancestor])
            made.add(ancestor)

    def bind(dest: str, src: str, ro: bool) -> None:
        parents(dest)
        argv.extend(["--ro-bind" if ro else "--bind", src, dest])
        bound.append(dest)

    for target, link in view.symlinks:
        argv.extend(["--symlink", target, link])
        bound.append(link)
    system = len(view.binds) - len(spec.mounts)
    for dest, src, ro in view.binds[:system]:
        bind(dest, src, ro)
    for mask in view.masks:
        argv.extend(["--tmpfs", mask])
    for dest, src, ro in view.binds[system:]:
        bind(dest, src, ro)
    if spec.working_dir and view.host_path(spec.working_dir) is None:
        parents(spec.working_dir)
        argv.extend(["--dir", spec.working_dir])
    argv.extend(["--chdir", spec.working_dir or "/"])
    argv.extend(["--unshare-pid", "--unshare-uts", "--unshare-ipc", "--hostname", spec.pod_name[:63] or "pod",
                 "--die-with-parent", "--new-session", "--cap-drop", "ALL"])
    privs = setpriv_prefix(spec)
    if privs:
        argv.extend(["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"])
    argv.append("--clearenv")
    for key, value in spec.env:
        argv.extend(["--setenv", key, value])
    return argv + ["--"] + privs + command
