"""Extra age identities: ``--age-key`` files and ``$SOPS_AGE_KEY_FILE`` next to ``DATA/age.key``."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyrage import x25519

from gitkube.engine.hooks import write_engine_config
from gitkube.engine.pipeline import decryptor
from gitkube.errors import ConfigError, GitkubeError
from gitkube.manifests import agekey, sops


def _key_file(path: Path, *identities: x25519.Identity) -> Path:
    path.write_text("# created: now\n" + "".join(f"# public key: {i.to_public()}\n{i}\n" for i in identities))
    return path


def test_every_identity_of_every_file_is_loaded(tmp_path: Path) -> None:
    own, _ = agekey.ensure_identity(tmp_path)
    a, b = x25519.Identity.generate(), x25519.Identity.generate()
    extra = _key_file(tmp_path / "keys.txt", a, b)
    got = agekey.load_identities(tmp_path, [extra])
    assert [str(i.to_public()) for i in got] == [str(own.to_public()), str(a.to_public()), str(b.to_public())]


def test_sops_env_is_honoured_and_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extra = _key_file(tmp_path / "keys.txt", x25519.Identity.generate())
    monkeypatch.setenv(agekey.SOPS_ENV, str(extra))
    assert agekey.extra_key_files([extra]) == [extra.absolute()]
    monkeypatch.delenv(agekey.SOPS_ENV)
    assert agekey.extra_key_files([]) == []


def test_a_bad_key_file_names_the_file_and_never_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such age identity file"):
        agekey.load_identities(None, [tmp_path / "missing"])
    bad = tmp_path / "bad.txt"
    bad.write_text("AGE-SECRET-KEY-1NOTAKEY\n")
    with pytest.raises(ConfigError) as info:
        agekey.load_identities(None, [bad])
    assert str(bad) in str(info.value) and "NOTAKEY" not in str(info.value)
    other = tmp_path / "other.txt"
    other.write_text("hello\n")
    with pytest.raises(ConfigError, match="not an age identity file"):
        agekey.load_identities(None, [other])


def test_the_hooks_and_cli_decrypt_with_the_daemons_extra_keys(tmp_path: Path) -> None:
    """The daemon writes its --age-key files into DATA/engine.json; decryptor() of the data dir
    (what the pre-receive hook and `gitkube diff` use) then decrypts files sealed for them."""
    demo = x25519.Identity.generate()
    keys = _key_file(tmp_path / "demo.key", demo)
    data = tmp_path / "data"
    data.mkdir()
    agekey.ensure_identity(data)
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"k": "v"}}
    sealed = sops.encrypt([doc], [str(demo.to_public())])
    own_only = decryptor(data)
    assert own_only is not None
    with pytest.raises(GitkubeError):
        own_only("s.sops.yaml", sealed)
    write_engine_config(data, {"branch": "main", "path": "", "age_keys": [str(keys)]})
    both = decryptor(data)
    assert both is not None
    assert b"k: v" in both("s.sops.yaml", sealed)
