"""Render a kustomization directory with the ``kustomize`` or ``kubectl kustomize`` binary.

:func:`find_binary` picks the command: the ``kustomize`` argument of ``load()``, else
``$GITKUBE_KUSTOMIZE``, else ``kustomize`` on ``PATH``, else ``kubectl`` on ``PATH`` (a name or a
path; a basename starting with ``kubectl`` runs ``kubectl kustomize DIR``, anything else
``BIN build DIR``). :func:`render` exports the whole commit to a temporary directory (overlays
reach their bases with ``../base``, so the kustomization's own subtree is not enough), refuses a
symlink below the kustomization that leads outside the repository, removes such links elsewhere
so kustomize cannot follow them, replaces ``*.sops.yaml`` files below the kustomization with their
plaintext (the export is private and deleted afterwards; such output is never cached), and runs
the binary with a timeout. Failures raise
:class:`RenderError` with a message that names the kustomization file.

Callers: :func:`gitkube.manifests.load`.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from gitkube.errors import GitkubeError
from gitkube.manifests.model import TreeReader

Decrypt = Callable[[str, bytes], bytes]

__all__ = ["ENV_VAR", "RENDER_TIMEOUT", "RenderError", "find_binary", "render"]

ENV_VAR = "GITKUBE_KUSTOMIZE"
RENDER_TIMEOUT = 120.0


class RenderError(Exception):
    """The kustomization could not be rendered; ``str()`` is the user-facing reason."""


def find_binary(explicit: str | None = None) -> list[str] | None:
    """The argv prefix that renders a directory given as its last argument, or None."""
    wanted = explicit or os.environ.get(ENV_VAR) or None
    if wanted:
        path = shutil.which(wanted)
        if path is None:
            raise RenderError(f"kustomize binary {wanted!r} not found")
        candidates = [path]
    else:
        candidates = [p for p in (shutil.which("kustomize"), shutil.which("kubectl")) if p]
    if not candidates:
        return None
    binary = candidates[0]
    if os.path.basename(binary).startswith("kubectl"):
        return [binary, "kustomize"]
    return [binary, "build"]


def _check_links(top: Path, kdir: Path, kfile: str) -> None:
    """Refuse escaping links below ``kdir``; delete escaping links elsewhere under ``top``."""
    real_top = os.path.realpath(top)
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            entry = os.path.join(dirpath, name)
            if not os.path.islink(entry):
                continue
            target = os.readlink(entry)
            real = os.path.realpath(entry)
            if os.path.isabs(target) or os.path.commonpath([real_top, real]) != real_top:
                rel = os.path.relpath(entry, top)
                if os.path.commonpath([str(kdir), entry]) == str(kdir):
                    raise RenderError(f"{rel}: symlink to {target} leads outside the repository "
                                      f"(used by {kfile})")
                os.unlink(entry)


def _decrypt_sealed(top: Path, target: Path, kfile: str, decrypt: Decrypt | None) -> bool:
    """Replace every ``*.sops.yaml`` under ``target`` in the private export with its plaintext, so
    kustomize sees (and may transform) the real Secret, as Flux's kustomize-controller does.
    True when any was decrypted: that output holds secret values and must never be cached."""
    found = False
    for path in sorted(target.rglob("*")):
        if not path.name.lower().endswith((".sops.yaml", ".sops.yml")) or not path.is_file() or path.is_symlink():
            continue
        rel = str(path.relative_to(top))
        if decrypt is None:
            raise RenderError(f"{kfile}: {rel} is encrypted with SOPS: the daemon's age identity is needed to "
                              "decrypt it")
        try:
            plaintext = decrypt(rel, path.read_bytes())
        except GitkubeError as exc:
            raise RenderError(f"{kfile}: {rel}: {exc}") from None
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(fd, plaintext)
        finally:
            os.close(fd)
        found = True
    return found


def render(argv: list[str], reader: TreeReader, commit: str, kfile: str, kdir: str,
           decrypt: Decrypt | None = None) -> tuple[bytes, bool]:
    """The YAML stream ``kustomize build`` prints for ``kdir`` at ``commit``, and whether it
    holds decrypted SOPS content (then it must not be cached)."""
    with tempfile.TemporaryDirectory(prefix="gitkube-kustomize-") as tmp:
        top = Path(tmp) / "repo"
        top.mkdir()
        reader.export(commit, "", top)
        target = top / kdir if kdir else top
        _check_links(top, target, kfile)
        secret = _decrypt_sealed(top, target, kfile, decrypt)
        try:
            proc = subprocess.run([*argv, str(target)], capture_output=True, timeout=RENDER_TIMEOUT,
                                  cwd=str(top), stdin=subprocess.DEVNULL, check=False)
        except subprocess.TimeoutExpired:
            raise RenderError(f"{kfile}: {' '.join(argv)} did not finish within {RENDER_TIMEOUT:.0f} s") from None
        except OSError as exc:
            raise RenderError(f"{kfile}: cannot run {argv[0]}: {exc}") from None
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", "replace").strip().replace(str(top) + "/", "")
        raise RenderError(f"{kfile}: {' '.join(os.path.basename(a) for a in argv)} failed: {stderr}")
    return proc.stdout, secret
