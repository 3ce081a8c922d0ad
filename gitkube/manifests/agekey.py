"""The control plane's age identity: ``DATA/age.key``, in age's own key file format.

The file is what ``age-keygen`` writes (two comment lines, then ``AGE-SECRET-KEY-1...``), mode
0600, so ``age -d -i DATA/age.key`` reads it too. The identity decrypts SOPS files at sync time
(:mod:`gitkube.manifests.sops`); its public key (``age1...``) is the recipient ``gitkube seal``
encrypts for. The secret key is never logged or printed.

More identities can be added for decryption only (``gitkube up --age-key FILE``, or sops' own
``$SOPS_AGE_KEY_FILE``): :func:`load_identities` reads every ``AGE-SECRET-KEY-1`` line of such
files, as ``age -i`` and sops do.

Callers: the daemon (engine, pre-receive hook), ``gitkube diff|apply`` and ``gitkube seal``.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Sequence
from pathlib import Path

from pyrage import x25519

from gitkube.errors import ConfigError

__all__ = ["KEY_FILE", "SOPS_ENV", "ensure_identity", "extra_key_files", "load_identities", "load_identity",
           "parse_recipient", "recipient"]

KEY_FILE = "age.key"
SOPS_ENV = "SOPS_AGE_KEY_FILE"  # sops' own variable naming an age identity file


def _key_path(data_dir: Path | str) -> Path:
    return Path(data_dir) / KEY_FILE


def _parse(path: Path, text: str) -> x25519.Identity:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if len(lines) != 1 or not lines[0].startswith("AGE-SECRET-KEY-1"):
        raise ConfigError(f"{path}: not an age identity file (expected one AGE-SECRET-KEY-1... line)")
    try:
        return x25519.Identity.from_str(lines[0])
    except Exception as exc:  # pyrage.IdentityError; its text never holds the key
        raise ConfigError(f"{path}: the age identity in it is malformed") from exc


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such age identity file") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the age identity: {exc.strerror}") from exc


def _parse_many(path: Path, text: str) -> list[x25519.Identity]:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines or any(not line.startswith("AGE-SECRET-KEY-1") for line in lines):
        raise ConfigError(f"{path}: not an age identity file (expected AGE-SECRET-KEY-1... lines)")
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(x25519.Identity.from_str(line))
        except Exception as exc:  # pyrage.IdentityError; its text never holds the key
            raise ConfigError(f"{path}: age identity {number} in it is malformed") from exc
    return out


def extra_key_files(configured: Sequence[str | Path] = ()) -> list[Path]:
    """``configured`` (``--age-key``) plus ``$SOPS_AGE_KEY_FILE`` when set, absolute, without repeats."""
    paths = [Path(p) for p in configured]
    env = os.environ.get(SOPS_ENV)
    if env:
        paths.append(Path(env))
    out: list[Path] = []
    for p in paths:
        a = p.expanduser().absolute()
        if a not in out:
            out.append(a)
    return out


def load_identities(data_dir: Path | str | None, extra: Sequence[str | Path] = ()) -> list[x25519.Identity]:
    """Every identity that may decrypt: ``DATA/age.key`` (when it exists) and those in the files
    ``extra`` names (each must exist and hold only identities; ``ConfigError`` names the file)."""
    out: list[x25519.Identity] = []
    if data_dir is not None and _key_path(data_dir).exists():
        out.append(load_identity(data_dir))
    for path in extra:
        out.extend(_parse_many(Path(path), _read(Path(path))))
    return out


def load_identity(data_dir: Path | str) -> x25519.Identity:
    """The identity in ``DATA/age.key``; ``ConfigError`` if it is missing or malformed."""
    path = _key_path(data_dir)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no age identity (the daemon creates it on first start)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the age identity: {exc.strerror}") from exc
    return _parse(path, text)


def ensure_identity(data_dir: Path | str) -> tuple[x25519.Identity, x25519.Recipient]:
    """The identity in ``DATA/age.key`` and its public key, creating the file (0600) if absent."""
    path = _key_path(data_dir)
    if not path.exists():
        identity = x25519.Identity.generate()
        created = datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        text = f"# created: {created}\n# public key: {identity.to_public()}\n{identity}\n"
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_name(f".{KEY_FILE}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, text.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # never replaces a key another process wrote meanwhile
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    identity = load_identity(data_dir)
    return identity, identity.to_public()


def recipient(data_dir: Path | str) -> str:
    """The public key (``age1...``) of ``DATA/age.key``; ``ConfigError`` if there is none."""
    return str(load_identity(data_dir).to_public())


def parse_recipient(text: str) -> x25519.Recipient:
    """An ``age1...`` recipient; ``ConfigError`` naming it if it is not one."""
    try:
        return x25519.Recipient.from_str(text.strip())
    except Exception as exc:  # pyrage.RecipientError
        raise ConfigError(f"{text.strip()!r} is not an age X25519 recipient (age1...)") from exc
