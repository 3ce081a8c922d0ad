"""Namespace, ConfigMap, Secret and ServiceAccount strategies."""

from __future__ import annotations

import base64
import copy
from typing import Any

from gitkube.apiserver.strategy.config import decode_base64

from . import causes_of, defaulted, run


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_namespace_defaults_and_validation() -> None:
    obj = defaulted("Namespace", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    assert obj["spec"] == {"finalizers": ["kubernetes"]}
    assert obj["status"] == {"phase": "Active"}
    assert obj["metadata"]["labels"] == {"kubernetes.io/metadata.name": "team-a"}
    assert run("Namespace", obj) == []
    finalized = copy.deepcopy(obj)
    finalized["spec"]["finalizers"] = []
    assert defaulted("Namespace", finalized)["spec"]["finalizers"] == []  # finalization is not undone
    bad = {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["mine"]}}
    assert causes_of(run("Namespace", bad), "spec.finalizers") == [
        'Invalid value: "mine": name is neither a standard finalizer name nor is it fully qualified']
    assert run("Namespace", {"metadata": {"name": "team-a"}, "spec": {"finalizers": ["example.com/x"]}}) == []
    assert causes_of(run("Namespace", {"metadata": {"name": "t"}, "status": {"phase": "Gone"}}), "status.phase") == [
        'Unsupported value: "Gone": supported values: "Active", "Terminating"']


def configmap(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default"}, **fields}


def test_configmap_validation() -> None:
    assert run("ConfigMap", configmap(data={"app.properties": "x=1", "KEY_2": ""},
                                      binaryData={"blob": b64("\x00\x01")})) == []
    assert causes_of(run("ConfigMap", configmap(data={"bad key": "x"})), "data[bad key]") == [
        "Invalid value: \"bad key\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
        "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]
    assert causes_of(run("ConfigMap", configmap(data={"..": "x"})), "data[..]")[-1] == (
        "Invalid value: \"..\": must not be '..'")
    dup = run("ConfigMap", configmap(data={"k": "x"}, binaryData={"k": b64("y")}))
    assert causes_of(dup, "data[k]") == ['Invalid value: "k": duplicate of key present in binaryData']
    big = run("ConfigMap", configmap(data={"a": "x" * (1024 * 1024), "b": "y"}))
    assert causes_of(big, "") == ["Too long: may not be more than 1048576 bytes"]
    assert causes_of(run("ConfigMap", configmap(binaryData={"b": "not base64!"})), "binaryData[b]") == [
        'Invalid value: "not base64!": illegal base64 data at input byte 3']


def test_configmap_immutable() -> None:
    old = configmap(data={"k": "v"}, immutable=True)
    assert run("ConfigMap", copy.deepcopy(old), old) == []
    changed = configmap(data={"k": "w"}, immutable=True)
    assert causes_of(run("ConfigMap", changed, old), "data") == ["Forbidden: field is immutable when `immutable` is set"]
    unset = configmap(data={"k": "v"})
    assert causes_of(run("ConfigMap", unset, old), "immutable") == [
        "Forbidden: field is immutable when `immutable` is set"]
    binary = configmap(data={"k": "v"}, immutable=True, binaryData={"b": b64("x")})
    assert causes_of(run("ConfigMap", binary, old), "binaryData") == [
        "Forbidden: field is immutable when `immutable` is set"]
    mutable = configmap(data={"k": "v"})
    assert run("ConfigMap", configmap(data={"k": "w"}, immutable=True), mutable) == []


def secret(**fields: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "default"}, **fields}


def test_secret_defaults() -> None:
    obj = defaulted("Secret", secret(stringData={"password": "hunter2"}, data={"user": b64("admin")}))
    assert obj["type"] == "Opaque"
    assert obj["data"] == {"user": b64("admin"), "password": b64("hunter2")}
    assert "stringData" not in obj
    override = defaulted("Secret", secret(stringData={"k": "new"}, data={"k": b64("old")}))
    assert override["data"] == {"k": b64("new")}  # stringData wins, as in the v1 conversion


def test_secret_validation() -> None:
    assert run("Secret", secret(data={"k": b64("v")})) == []
    assert causes_of(run("Secret", secret(data={"k": "!!!!"})), "data[k]") == [
        'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 0']
    assert causes_of(run("Secret", secret(data={"k": "YWJj="})), "data[k]") == [
        'Invalid value: "<secret contents redacted>": illegal base64 data at input byte 4']
    big = b64("x" * (1024 * 1024 + 1))
    assert causes_of(run("Secret", secret(data={"k": big})), "data") == ["Too long: may not be more than 1048576 bytes"]
    assert causes_of(run("Secret", secret(type="kubernetes.io/tls", data={"tls.crt": b64("c")})), "data[tls.key]") == [
        "Required value"]
    assert causes_of(run("Secret", secret(type="kubernetes.io/dockerconfigjson", data={})),
                     "data[.dockerconfigjson]") == ["Required value"]
    bad_json = secret(type="kubernetes.io/dockerconfigjson", data={".dockerconfigjson": b64("{not json")})
    found = causes_of(run("Secret", bad_json), "data[.dockerconfigjson]")
    assert len(found) == 1 and found[0].startswith('Invalid value: "<secret contents redacted>": ')
    assert causes_of(run("Secret", secret(type="kubernetes.io/basic-auth", data={})), "data[username]") == [
        "Required value"]
    assert causes_of(run("Secret", secret(type="kubernetes.io/ssh-auth", data={})), "data[ssh-privatekey]") == [
        "Required value"]
    token = secret(type="kubernetes.io/service-account-token")
    assert causes_of(run("Secret", token), "metadata.annotations[kubernetes.io/service-account.name]") == [
        "Required value"]


def test_secret_update_rules() -> None:
    old = defaulted("Secret", secret(data={"k": b64("v")}, immutable=True))
    new = copy.deepcopy(old)
    new["type"] = "kubernetes.io/basic-auth"
    new["data"] = {"username": b64("u")}
    causes = run("Secret", new, old)
    assert causes_of(causes, "type") == ['Invalid value: "kubernetes.io/basic-auth": field is immutable']
    assert causes_of(causes, "data") == ["Forbidden: field is immutable when `immutable` is set"]


def test_decode_base64() -> None:
    assert decode_base64(b64("hello")) == (b"hello", "")
    assert decode_base64("aGVs\nbG8=") == (b"hello", "")
    assert decode_base64("abc")[0] is None


def test_service_account() -> None:
    sa: dict[str, Any] = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder", "namespace": "ci"},
          "secrets": [{"name": "x"}]}
    assert defaulted("ServiceAccount", sa) == sa
    assert run("ServiceAccount", sa) == []
    bad = copy.deepcopy(sa)
    bad["metadata"]["name"] = "Builder"
    assert causes_of(run("ServiceAccount", bad), "metadata.name")
