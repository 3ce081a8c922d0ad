"""``gitkube seal``: a Secret manifest in, its SOPS-encrypted version (for committing) out.

``data`` and ``stringData`` values are encrypted (``encrypted_regex: ^(data|stringData)$``);
apiVersion, kind and metadata stay readable so reviews and ``.gitkubeignore`` still work. The
recipient is the control plane's public key (``DATA/age.key``), or only the ``--recipient``
keys given. The daemon decrypts the file at sync time (:mod:`gitkube.manifests.sops`).

Exit codes: 0 written, 3 error (one line on stderr that never quotes the input). Registered on
the ``gitkube`` group by ``gitkube.cli`` (``COMMANDS``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gitkube import errors

__all__ = ["COMMANDS", "SEAL_REGEX", "seal_secrets"]

SEAL_REGEX = "^(data|stringData)$"
EXIT_ERROR = 3


def seal_secrets(content: bytes, recipients: list[str]) -> bytes:
    """The SOPS file of the Secret manifests in ``content`` for ``recipients`` (``age1...``).
    ``ConfigError`` for input that is not Secrets (the message quotes no value)."""
    from gitkube.manifests import agekey, sops

    parsed = [agekey.parse_recipient(r) for r in recipients]
    try:
        docs = sops.parse_yaml(content)
    except ValueError as exc:
        raise errors.ConfigError(f"input: {exc}") from None
    for index, doc in enumerate(docs):
        where = f"input document {index + 1}"
        if not isinstance(doc, dict):
            raise errors.ConfigError(f"{where}: expected a Secret manifest (a mapping)")
        if "sops" in doc:
            raise errors.ConfigError(f"{where}: already encrypted with SOPS")
        if doc.get("apiVersion") != "v1" or doc.get("kind") != "Secret":
            kind = doc.get("kind") if isinstance(doc.get("kind"), str) else "?"
            raise errors.ConfigError(f"{where}: is a {kind}, not a v1 Secret: only Secrets are sealed")
        for field in ("data", "stringData"):
            if field in doc and not isinstance(doc[field], dict | None):
                raise errors.ConfigError(f"{where}: {field} must be a mapping of names to values")
    sealed: list[dict[str, Any]] = docs
    try:
        return sops.encrypt(sealed, parsed, encrypted_regex=SEAL_REGEX)
    except ValueError as exc:
        raise errors.ConfigError(f"input: {exc}") from None


@click.command()
@click.option("-f", "--filename", "source", default="-", show_default=True,
              help="Secret manifest to seal ('-' reads standard input).")
@click.option("--recipient", "recipients", multiple=True, metavar="AGE1...",
              help="Encrypt for this age public key instead of the control plane's (repeatable).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="State directory holding age.key [default: $GITKUBE_DATA_DIR or ~/.local/share/gitkube].")
@click.option("--debug", is_flag=True, help="Show tracebacks.")
def seal(source: str, recipients: tuple[str, ...], data_dir: Path | None, debug: bool) -> None:
    """Encrypt a Secret manifest for committing (SOPS format, age); writes it to standard output."""
    try:
        if source == "-":
            content = sys.stdin.buffer.read()
        else:
            try:
                content = Path(source).read_bytes()
            except OSError as exc:
                raise errors.ConfigError(f"{source}: cannot read: {exc.strerror}") from exc
        targets = list(recipients)
        if not targets:
            from gitkube.manifests import agekey
            from gitkube.util.datadir import default_data_dir

            targets = [agekey.recipient(data_dir or default_data_dir())]
        sys.stdout.buffer.write(seal_secrets(content, targets))
        sys.stdout.buffer.flush()
    except errors.GitkubeError as exc:
        if debug:
            raise
        click.echo(f"error: {exc}", err=True)
        raise SystemExit(EXIT_ERROR) from None


COMMANDS = [seal]
