"""Volumes written under the pod dir with Kubernetes' file names and modes."""

from __future__ import annotations

import base64
import stat

import pytest

from gitkube import errors
from gitkube.agent import envvars, volumes

POD_META = {"name": "web", "namespace": "shop", "uid": "u-1", "labels": {"b": "2", "a": "1"}}
CMS = {"cfg": {"data": {"app.conf": "level=debug\n", "other": "x"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}}}
SECRETS = {"sec": {"data": {"password": base64.b64encode(b"hunter2").decode(), "user": base64.b64encode(b"me").decode()}}}


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def _materialize(tmp_path, vols, **spec):
    pod = {"metadata": POD_META, "spec": {"volumes": vols, "containers": [{"name": "app"}], **spec}}
    facts = envvars.PodFacts(pod, "127.10.0.2", "127.0.0.1")
    return pod, volumes.materialize(pod, tmp_path / "pod", facts, configmaps=CMS, secrets=SECRETS)


def test_configmap_secret_downward_projected_and_empty_dir(tmp_path):
    vols = [
        {"name": "cfg", "configMap": {"name": "cfg", "defaultMode": 0o644}},
        {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400,
                                   "items": [{"key": "password", "path": "creds/pw"}, {"key": "user", "path": "u", "mode": 0o440}]}},
        {"name": "info", "downwardAPI": {"defaultMode": 0o644, "items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "all", "projected": {"defaultMode": 0o600, "sources": [
            {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "o"}]}},
            {"secret": {"name": "sec", "items": [{"key": "user", "path": "user"}]}},
            {"downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
        {"name": "scratch", "emptyDir": {}},
        {"name": "host", "hostPath": {"path": str(tmp_path / "hostdir"), "type": "DirectoryOrCreate"}},
    ]
    _, paths = _materialize(tmp_path, vols)
    cfg = paths["cfg"]
    assert cfg == tmp_path / "pod" / "volumes" / "cfg"
    assert (cfg / "app.conf").read_text() == "level=debug\n"
    assert (cfg / "bin").read_bytes() == b"\x00\x01"
    assert _mode(cfg / "app.conf") == 0o644
    assert (paths["sec"] / "creds" / "pw").read_text() == "hunter2"
    assert _mode(paths["sec"] / "creds" / "pw") == 0o400
    assert _mode(paths["sec"] / "u") == 0o440
    assert not (paths["sec"] / "password").exists()
    assert (paths["info"] / "labels").read_text() == 'a="1"\nb="2"\n'
    assert (paths["info"] / "name").read_text() == "web"
    assert {p.name for p in paths["all"].iterdir()} == {"o", "user", "ns"}
    assert _mode(paths["all"] / "user") == 0o600
    assert (paths["all"] / "ns").read_text() == "shop"
    assert paths["scratch"].is_dir() and _mode(paths["scratch"]) == 0o777
    assert paths["host"] == tmp_path / "hostdir" and paths["host"].is_dir()


def test_refresh_removes_keys_that_went_away(tmp_path):
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}}]
    _, paths = _materialize(tmp_path, vols)
    assert (paths["cfg"] / "other").exists()
    CMS["cfg2"] = {"data": {"app.conf": "new"}}
    try:
        _, paths = _materialize(tmp_path, [{"name": "cfg", "configMap": {"name": "cfg2"}}])
    finally:
        del CMS["cfg2"]
    assert not (paths["cfg"] / "other").exists()
    assert (paths["cfg"] / "app.conf").read_text() == "new"


@pytest.mark.parametrize(("vol", "message"), [
    ({"name": "v", "configMap": {"name": "nope"}}, 'MountVolume.SetUp failed for volume "v" : configmap "nope" not found'),
    ({"name": "v", "secret": {"secretName": "nope"}}, 'MountVolume.SetUp failed for volume "v" : secret "nope" not found'),
    ({"name": "v", "configMap": {"name": "cfg", "items": [{"key": "zz", "path": "z"}]}},
     'MountVolume.SetUp failed for volume "v" : configmap references non-existent config key: zz'),
    ({"name": "v", "hostPath": {"path": "/nonexistent/dir", "type": "Directory"}},
     'MountVolume.SetUp failed for volume "v" : hostPath type check failed: /nonexistent/dir is not a directory'),
    ({"name": "v", "nfs": {"server": "x", "path": "/"}},
     'MountVolume.SetUp failed for volume "v" : volume type nfs is not supported by gitkube'),
])
def test_bad_sources(tmp_path, vol, message):
    with pytest.raises(errors.RuntimeFailure) as info:
        _materialize(tmp_path, [vol])
    assert info.value.reason == "FailedMount"
    assert info.value.message == message


def test_optional_missing_sources_give_empty_dirs(tmp_path):
    _, paths = _materialize(tmp_path, [{"name": "v", "configMap": {"name": "nope", "optional": True}},
                                       {"name": "w", "configMap": {"name": "cfg", "optional": True,
                                                                   "items": [{"key": "zz", "path": "z"}]}}])
    assert list(paths["v"].iterdir()) == [] and list(paths["w"].iterdir()) == []


def test_container_mounts(tmp_path):
    vols = [{"name": "cfg", "configMap": {"name": "cfg"}}, {"name": "data", "emptyDir": {}}]
    pod, paths = _materialize(tmp_path, vols)
    c = {"name": "app", "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"},
                                         {"name": "data", "mountPath": "/data", "subPath": "sub"},
                                         {"name": "data", "mountPath": "/ro", "readOnly": True}]}
    mounts = volumes.container_mounts(pod, c, paths)
    assert [(m.container_path, m.read_only) for m in mounts] == [("/etc/app", True), ("/data", False), ("/ro", True)]
    assert mounts[1].host_path == paths["data"] / "sub" and mounts[1].host_path.is_dir()
    with pytest.raises(errors.RuntimeFailure):
        volumes.container_mounts(pod, {"name": "app", "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}, paths)
