"""SOPS files: interop with a file the real sops wrote, round trips, every bad input, the age
identity file (interop with the real ``age`` CLI), the loader hook and ``gitkube seal``."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from pyrage import x25519

from gitkube.cli_secrets import seal
from gitkube.errors import ConfigError, ManifestError
from gitkube.manifests import ParseCache, agekey, load, sops
from tests.unit.manifests.conftest import Repo

VECTORS = Path(__file__).resolve().parent / "sops_vectors"  # written by the real sops (README there)
SECRET_VALUE = "s3cr3t-Pa55w0rd-xyzzy"


def _vector_identity() -> x25519.Identity:
    lines = (VECTORS / "test-identity.txt").read_text().splitlines()
    return x25519.Identity.from_str([line for line in lines if line.startswith("AGE-SECRET-KEY-")][0])


def _problems(call: Any) -> list[str]:
    with pytest.raises(ManifestError) as info:
        call()
    return info.value.problems


SECRET = {
    "apiVersion": "v1", "kind": "Secret",
    "metadata": {"name": "db", "namespace": "shop", "labels": {"app": "db"}},
    "type": "Opaque",
    "stringData": {"password": SECRET_VALUE, "port": "5432"},
    "data": {"token": "dG9rZW4tdmFsdWU="},
}


# -- interop with the real sops ---------------------------------------------------------------

def test_decrypts_the_file_the_real_sops_wrote() -> None:
    content = (VECTORS / "age_example.sops.yaml").read_bytes()
    out = sops.decrypt("age_example.sops.yaml", content, [_vector_identity()])
    assert yaml.safe_load(out) == yaml.safe_load((VECTORS / "age_example.plaintext.yaml").read_text())
    docs = sops.decrypt_documents("f", content, [_vector_identity()])
    assert docs[0]["example_number"] == 1234.56789 and docs[0]["example_booleans"] == [True, False]


def test_real_file_tampered_value_is_a_mac_mismatch_and_never_shows_plaintext() -> None:
    text = (VECTORS / "age_example.sops.yaml").read_text()
    ident = _vector_identity()
    docs = yaml.load(text, Loader=sops._Loader)
    # Swap two encrypted values of the same key path: each decrypts, but the MAC breaks.
    docs["example_array"] = list(reversed(docs["example_array"]))
    swapped = yaml.dump(docs, sort_keys=False).encode()
    problems = _problems(lambda: sops.decrypt("app/s.sops.yaml", swapped, [ident]))
    assert problems == ["app/s.sops.yaml: MAC mismatch: the file was changed after it was encrypted (tampered?)"]
    # A value moved to another key fails its own authentication (additional data is the path).
    moved = text.replace("example_key: ENC", "other_key: ENC")
    problems = _problems(lambda: sops.decrypt("s.sops.yaml", moved.encode(), [ident]))
    assert problems == ["s.sops.yaml: other_key: the value does not decrypt (tampered with, or moved to another key)"]
    assert "example_value" not in "".join(problems) + "".join(_problems(lambda: sops.decrypt("x", swapped, [ident])))


def test_real_file_for_another_key() -> None:
    content = (VECTORS / "age_example.sops.yaml").read_bytes()
    other = x25519.Identity.generate()
    [problem] = _problems(lambda: sops.decrypt("s.sops.yaml", content, [other]))
    assert problem.startswith("s.sops.yaml: encrypted for age recipient(s) age1se5ghfycr4n8")
    assert str(other.to_public()) in problem


# -- our own writer ---------------------------------------------------------------------------

def test_round_trip_keeps_types_and_the_sops_format() -> None:
    ident = x25519.Identity.generate()
    doc = {"a": "text", "n": 42, "f": 0.1, "big": 1e20, "b": False, "empty": "", "none": None,
           "nested": {"list": ["x", {"deep": 3}], "plain_unencrypted": "visible"}}
    out = sops.encrypt([doc], [ident.to_public()])
    parsed = yaml.load(out, Loader=sops._Loader)
    assert re.fullmatch(r"ENC\[AES256_GCM,data:[^,]+,iv:[^,]+,tag:[^,]+,type:int\]", parsed["n"])
    assert parsed["nested"]["list"][1]["deep"].endswith("type:int]")
    assert parsed["f"].endswith("type:float]") and parsed["b"].endswith("type:bool]")
    assert parsed["empty"] == "" and parsed["none"] is None
    assert parsed["nested"]["plain_unencrypted"] == "visible"
    meta = parsed["sops"]
    assert meta["unencrypted_suffix"] == "_unencrypted" and meta["age"][0]["recipient"] == str(ident.to_public())
    assert meta["age"][0]["enc"].startswith("-----BEGIN AGE ENCRYPTED FILE-----")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["lastmodified"])
    assert sops.decrypt_documents("f", out, [ident]) == [doc]


def test_multi_document_and_several_recipients() -> None:
    one, two = x25519.Identity.generate(), x25519.Identity.generate()
    docs = [dict(SECRET), {**SECRET, "metadata": {"name": "other"}}]
    out = sops.encrypt(docs, [one.to_public(), str(two.to_public())], encrypted_regex="^(data|stringData)$")
    assert SECRET_VALUE.encode() not in out and b"&id" not in out
    assert sops.decrypt_documents("f", out, [two]) == docs
    assert sops.decrypt_documents("f", out, [one]) == docs


@pytest.mark.parametrize("options,clear,secret", [
    ({"encrypted_regex": "^(data|stringData)$"}, ["metadata"], ["stringData", "data"]),
    ({"encrypted_suffix": "Data"}, ["metadata", "type"], ["stringData"]),
    ({"unencrypted_regex": "^(metadata|type|apiVersion|kind)$"}, ["metadata"], ["stringData", "data"]),
])
def test_selection_options_are_honoured(options: dict[str, str], clear: list[str], secret: list[str]) -> None:
    ident = x25519.Identity.generate()
    out = sops.encrypt([SECRET], [ident.to_public()], **options)  # type: ignore[arg-type]
    parsed = yaml.load(out, Loader=sops._Loader)
    for field in clear:
        assert parsed[field] == SECRET[field]
    for field in secret:
        assert all(str(v).startswith("ENC[") for v in parsed[field].values())
    assert {k: v for k, v in parsed["sops"].items() if k in options} == options
    assert sops.decrypt_documents("f", out, [ident]) == [SECRET]


def test_mac_only_encrypted() -> None:
    ident = x25519.Identity.generate()
    out = sops.encrypt([SECRET], [ident.to_public()], encrypted_regex="^stringData$", mac_only_encrypted=True)
    edited = out.replace(b"name: db", b"name: renamed")  # clear fields are outside the MAC then
    assert sops.decrypt_documents("f", edited, [ident])[0]["metadata"]["name"] == "renamed"
    plain = sops.encrypt([SECRET], [ident.to_public()], encrypted_regex="^stringData$")
    edited = plain.replace(b"name: db", b"name: renamed")
    assert "MAC mismatch" in _problems(lambda: sops.decrypt("f", edited, [ident]))[0]


# -- bad input: one clear line each, naming the file, no plaintext ------------------------------

def _sealed(ident: x25519.Identity) -> bytes:
    return sops.encrypt([SECRET], [ident.to_public()], encrypted_regex="^(data|stringData)$")


@pytest.mark.parametrize("mangle,expected", [
    (lambda b: b[: len(b) // 2], "(corrupt or truncated?)"),
    (lambda b: b[: b.index(b"ENC[") + 20], "not valid YAML at line"),
    (lambda b: b[: b.index(b"sops:")], "no 'sops' metadata"),
    (lambda b: b"\x00\xff\xfe garbage", "not valid YAML"),
    (lambda b: b"", "empty file"),
    (lambda b: re.sub(rb"lastmodified: .*", b"lastmodified: '2001-01-01T00:00:00Z'", b), "does not decrypt"),
    (lambda b: re.sub(rb"(password: ENC\[AES256_GCM,data:)(.)", lambda m: m.group(1) + (b"B" if m.group(2) == b"A"
                                                                                          else b"A"), b),
     "stringData:password: the value does not decrypt"),
    (lambda b: b.replace(b"password: ENC[AES256_GCM", b"password: ENC[AES256_GCM,data:@@@,iv:x,tag:y,type:str]#"),
     "stringData:password:"),
    (lambda b: re.sub(rb"enc: \|\n(\s+-----BEGIN AGE ENCRYPTED FILE-----\n\s+)\S+", rb"enc: |\n\1AAAA", b),
     "encrypted for age recipient(s)"),
])
def test_bad_files(mangle: Any, expected: str) -> None:
    ident = x25519.Identity.generate()
    content = mangle(_sealed(ident))
    problems = _problems(lambda: sops.decrypt("apps/db.sops.yaml", content, [ident]))
    assert len(problems) == 1 and problems[0].startswith("apps/db.sops.yaml: ")
    assert expected in problems[0]
    assert SECRET_VALUE not in problems[0] and "dG9rZW4tdmFsdWU" not in problems[0]


def test_a_value_left_in_the_clear_is_refused_without_echoing_it() -> None:
    ident = x25519.Identity.generate()
    content = re.sub(rb"password: ENC\[[^\]]+\]", f"password: {SECRET_VALUE}".encode(), _sealed(ident))
    [problem] = _problems(lambda: sops.decrypt("f.sops.yaml", content, [ident]))
    assert "stringData:password: the value is not encrypted" in problem and SECRET_VALUE not in problem


# -- the age identity ---------------------------------------------------------------------------

def test_identity_file_is_created_once_0600_in_age_format(tmp_path: Path) -> None:
    ident, public = agekey.ensure_identity(tmp_path)
    path = tmp_path / "age.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# created: ") and lines[1] == f"# public key: {public}"
    assert lines[2].startswith("AGE-SECRET-KEY-1")
    again, public2 = agekey.ensure_identity(tmp_path)
    assert str(public2) == str(public) == agekey.recipient(tmp_path)
    path.write_text("garbage\n")
    with pytest.raises(ConfigError, match="not an age identity file"):
        agekey.load_identity(tmp_path)
    with pytest.raises(ConfigError, match="no age identity"):
        agekey.recipient(tmp_path / "missing")
    with pytest.raises(ConfigError, match="not an age X25519 recipient"):
        agekey.parse_recipient("age1nope")


AGE = shutil.which("age")


@pytest.mark.skipif(AGE is None, reason="the age CLI (Debian package age) is not installed")
def test_interop_with_the_age_cli(tmp_path: Path) -> None:
    import pyrage

    assert AGE is not None
    ident, public = agekey.ensure_identity(tmp_path)
    # age encrypts for gitkube's public key; gitkube decrypts.
    sealed = subprocess.run([AGE, "-r", str(public), "-a"], input=b"from the age CLI", capture_output=True,
                            check=True).stdout
    assert pyrage.decrypt(sealed, [ident]) == b"from the age CLI"
    # gitkube encrypts; age decrypts with the key file itself.
    blob = tmp_path / "msg.age"
    blob.write_bytes(pyrage.encrypt(b"from gitkube", [public]))
    out = subprocess.run([AGE, "-d", "-i", str(tmp_path / "age.key"), str(blob)], capture_output=True, check=True)
    assert out.stdout == b"from gitkube"
    # And a SOPS data key wrapped by the age CLI opens a file.
    doc_key = os.urandom(32)
    wrapped = subprocess.run([AGE, "-r", str(public), "-a"], input=doc_key, capture_output=True, check=True).stdout
    assert pyrage.decrypt(wrapped, [ident]) == doc_key


# -- the loader hook ------------------------------------------------------------------------------

def test_loader_decrypts_sops_files_and_never_caches_them(repo: Repo, tmp_path: Path) -> None:
    ident = x25519.Identity.generate()
    repo.write("apps/db.sops.yaml", _sealed(ident))
    repo.write("apps/cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\n")
    commit = repo.commit()
    cache = ParseCache(tmp_path / "cache")
    out = load(repo.tree, commit, cache=cache, decrypt=sops.Decryptor([ident]))  # type: ignore[arg-type]
    by_name = {m.obj["metadata"]["name"]: m for m in out}
    assert by_name["db"].obj["stringData"]["password"] == SECRET_VALUE
    assert by_name["db"].source.file == "apps/db.sops.yaml"
    cache.save()
    assert len(cache) == 1
    assert SECRET_VALUE.encode() not in (tmp_path / "cache").read_bytes()


def test_loader_without_identity_or_with_another_key(repo: Repo) -> None:
    repo.write("db.sops.yml", _sealed(x25519.Identity.generate()))
    repo.write("bad.sops.yaml", b"stringData: [")
    commit = repo.commit()
    problems = _problems(lambda: load(repo.tree, commit))  # type: ignore[arg-type]
    assert problems == [
        "bad.sops.yaml: encrypted with SOPS: the daemon's age identity is needed to decrypt it",
        "db.sops.yml: encrypted with SOPS: the daemon's age identity is needed to decrypt it",
    ]
    problems = _problems(lambda: load(repo.tree, commit, decrypt=sops.Decryptor([x25519.Identity.generate()])))  # type: ignore[arg-type]
    assert problems[0].startswith("bad.sops.yaml: not valid YAML")
    assert problems[1].startswith("db.sops.yml: encrypted for age recipient(s) age1")
    assert all(SECRET_VALUE not in p for p in problems)


# -- gitkube seal -------------------------------------------------------------------------------

def test_seal_for_the_control_plane_and_for_recipients(tmp_path: Path) -> None:
    ident, _ = agekey.ensure_identity(tmp_path)
    manifest = yaml.safe_dump(SECRET, sort_keys=False)
    result = CliRunner().invoke(seal, ["--data-dir", str(tmp_path)], input=manifest)
    assert result.exit_code == 0, result.output
    assert SECRET_VALUE not in result.output and "name: db" in result.output
    assert sops.decrypt_documents("s", result.output.encode(), [ident]) == [SECRET]
    other = x25519.Identity.generate()
    source = tmp_path / "secret.yaml"
    source.write_text(manifest)
    result = CliRunner().invoke(seal, ["-f", str(source), "--recipient", str(other.to_public())])
    assert result.exit_code == 0, result.output
    assert sops.decrypt_documents("s", result.output.encode(), [other]) == [SECRET]
    assert "encrypted for age recipient" in _problems(
        lambda: sops.decrypt("s", result.output.encode(), [ident]))[0]


@pytest.mark.parametrize("text,expected", [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n", "is a ConfigMap, not a v1 Secret"),
    (f"apiVersion: v1\nkind: Secret\nstringData: [{SECRET_VALUE}\n", "not valid YAML"),
    ("- a\n", "expected a Secret manifest"),
])
def test_seal_refuses_bad_input_without_echoing_it(tmp_path: Path, text: str, expected: str) -> None:
    agekey.ensure_identity(tmp_path)
    result = CliRunner().invoke(seal, ["--data-dir", str(tmp_path)], input=text)
    assert result.exit_code == 3
    assert expected in result.output and SECRET_VALUE not in result.output


def test_seal_without_identity_names_the_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(seal, ["--data-dir", str(tmp_path / "none")], input=yaml.safe_dump(SECRET))
    assert result.exit_code == 3 and "no age identity" in result.output
