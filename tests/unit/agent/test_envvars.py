"""Environment, $(VAR) expansion and service variables, table-driven against Kubernetes'
expansion_test.go and envvars_test.go behaviour."""

from __future__ import annotations

import base64

import pytest

from gitkube import errors
from gitkube.agent import envvars

MAP = {"VAR_A": "A", "VAR_B": "B", "VAR_C": "C", "VAR_REF": "$(VAR_A)", "VAR_EMPTY": ""}


@pytest.mark.parametrize(("text", "want"), [
    ("$(VAR_A)", "A"),
    ("___$(VAR_B)___", "___B___"),
    ("$(VAR_A)-$(VAR_A)", "A-A"),
    ("$(VAR_A)$(VAR_B)$(VAR_C)", "ABC"),
    ("$(VAR_REF)", "$(VAR_A)"),  # no recursive expansion
    ("$(VAR_EMPTY)", ""),
    ("$(UNKNOWN)", "$(UNKNOWN)"),  # unknown variables stay as written
    ("$$(VAR_A)", "$(VAR_A)"),  # $$ escapes
    ("$$$(VAR_A)", "$A"),
    ("$$$$(VAR_A)", "$$(VAR_A)"),
    ("f000-$$VAR_A", "f000-$VAR_A"),
    ("$(VAR_A", "$(VAR_A"),  # unterminated reference
    ("$VAR_A", "$VAR_A"),  # no parentheses, no expansion
    ("$", "$"),
    ("foo$", "foo$"),
    ("$()", "$()"),
    ("$(VAR_A)$", "A$"),
    ("", ""),
])
def test_expand(text, want):
    assert envvars.expand(text, MAP.get) == want


def _svc(name, ns, ip, ports):
    return {"metadata": {"name": name, "namespace": ns}, "spec": {"clusterIP": ip, "ports": ports}}


SERVICES = [
    _svc("kubernetes", "default", "127.96.0.1", [{"name": "https", "port": 443, "protocol": "TCP"}]),
    _svc("my-web", "shop", "127.96.0.9", [{"name": "http", "port": 80, "protocol": "TCP"},
                                          {"name": "dns", "port": 53, "protocol": "UDP"}]),
    _svc("headless", "shop", "None", [{"port": 80}]),
    _svc("other", "elsewhere", "127.96.0.7", [{"port": 81}]),
]


def test_service_env_matches_kubelet_names():
    env = envvars.service_env(SERVICES, "shop")
    assert env["KUBERNETES_SERVICE_HOST"] == "127.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443"
    assert env["KUBERNETES_PORT"] == "tcp://127.96.0.1:443"
    assert env["MY_WEB_SERVICE_HOST"] == "127.96.0.9"
    assert env["MY_WEB_SERVICE_PORT"] == "80"
    assert env["MY_WEB_SERVICE_PORT_HTTP"] == "80"
    assert env["MY_WEB_SERVICE_PORT_DNS"] == "53"
    assert env["MY_WEB_PORT"] == "tcp://127.96.0.9:80"
    assert env["MY_WEB_PORT_80_TCP"] == "tcp://127.96.0.9:80"
    assert env["MY_WEB_PORT_80_TCP_PROTO"] == "tcp"
    assert env["MY_WEB_PORT_80_TCP_PORT"] == "80"
    assert env["MY_WEB_PORT_80_TCP_ADDR"] == "127.96.0.9"
    assert env["MY_WEB_PORT_53_UDP"] == "udp://127.96.0.9:53"
    assert not any(k.startswith("HEADLESS") or k.startswith("OTHER") for k in env)


def test_service_links_disabled_keeps_only_the_kubernetes_service():
    env = envvars.service_env(SERVICES, "shop", enable_service_links=False)
    assert env["KUBERNETES_SERVICE_HOST"] == "127.96.0.1"
    assert not any(k.startswith("MY_WEB") for k in env)


POD = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u-1", "labels": {"app": "web"},
                    "annotations": {"team": "blue"}},
       "spec": {"nodeName": "node-1", "serviceAccountName": "default", "containers": []}}
FACTS = envvars.PodFacts(POD, "127.10.0.5", "127.0.0.1")
CMS = {"cfg": {"data": {"LEVEL": "debug", "bad key": "x", "NAME": "cfg"}}}
SECRETS = {"sec": {"data": {"PASSWORD": base64.b64encode(b"hunter2").decode()}}}


def _env(container, services=None):
    return dict(envvars.container_env(container, FACTS, configmaps=CMS, secrets=SECRETS, services=services or {}))


def test_env_sources_and_downward_api():
    c = {"name": "app", "resources": {"limits": {"memory": "64Mi", "cpu": "500m"}},
         "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
         "env": [
             {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
             {"name": "POD_UID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.uid"}}},
             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "HOST_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}},
             {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
             {"name": "SA", "valueFrom": {"fieldRef": {"fieldPath": "spec.serviceAccountName"}}},
             {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
             {"name": "TEAM", "valueFrom": {"fieldRef": {"fieldPath": "metadata.annotations['team']"}}},
             {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
             {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}}},
             {"name": "KEY", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "LEVEL"}}},
             {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "PASSWORD"}}},
             {"name": "URL", "value": "http://$(POD_IP):8080/$(LEVEL)/$(LATER)"},
             {"name": "LATER", "value": "late"},
             {"name": "SVC", "value": "$(MY_WEB_SERVICE_HOST)"},
         ]}
    env = _env(c, {"MY_WEB_SERVICE_HOST": "127.96.0.9"})
    assert env["LEVEL"] == "debug" and env["NAME"] == "cfg"
    assert "bad key" not in env  # invalid names from envFrom are skipped
    assert env["S_PASSWORD"] == "hunter2"
    assert (env["POD_NAME"], env["POD_NS"], env["POD_UID"]) == ("web-1", "shop", "u-1")
    assert (env["POD_IP"], env["HOST_IP"], env["NODE"], env["SA"]) == ("127.10.0.5", "127.0.0.1", "node-1", "default")
    assert (env["APP"], env["TEAM"]) == ("web", "blue")
    assert (env["MEM"], env["CPU"]) == ("64", "500")
    assert (env["KEY"], env["PW"]) == ("debug", "hunter2")
    assert env["URL"] == "http://127.10.0.5:8080/debug/$(LATER)"  # only earlier variables expand
    assert env["SVC"] == "127.96.0.9"
    assert env["MY_WEB_SERVICE_HOST"] == "127.96.0.9"


def test_env_order_later_definitions_win():
    env = envvars.container_env({"name": "a", "envFrom": [{"configMapRef": {"name": "cfg"}}],
                                 "env": [{"name": "LEVEL", "value": "info"}]}, FACTS, configmaps=CMS, secrets={},
                                services={"LEVEL": "svc"})
    assert dict(env)["LEVEL"] == "info"


@pytest.mark.parametrize(("container", "message"), [
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}, 'configmap "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}]}, 'secret "nope" not found'),
    ({"env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "missing"}}}]},
     "couldn't find key missing in ConfigMap shop/cfg"),
    ({"envFrom": [{"secretRef": {"name": "nope"}}]}, 'secret "nope" not found'),
])
def test_missing_sources_are_config_errors(container, message):
    with pytest.raises(errors.RuntimeFailure) as info:
        _env({"name": "a", **container})
    assert info.value.reason == "CreateContainerConfigError"
    assert info.value.message == message


def test_optional_sources_are_skipped():
    env = _env({"name": "a", "envFrom": [{"configMapRef": {"name": "nope", "optional": True}}],
                "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "nokey", "optional": True}}},
                        {"name": "Y", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k", "optional": True}}}]})
    assert "X" not in env and "Y" not in env


@pytest.mark.parametrize(("container", "argv"), [
    ({"command": ["echo", "$(MSG)"], "args": ["$(UNSET)", "$$(MSG)"]}, ["echo", "hello", "$(UNSET)", "$(MSG)"]),
    ({"args": ["python3", "-c", "print('$(MSG)')"]}, ["python3", "-c", "print('hello')"]),
    ({"command": ["sh", "-c", "echo $MSG"]}, ["sh", "-c", "echo $MSG"]),
])
def test_argv_expansion(container, argv):
    assert envvars.container_argv({"name": "a", **container}, [("MSG", "hello")]) == argv


def test_no_command_and_no_args_cannot_run():
    with pytest.raises(errors.RuntimeFailure) as info:
        envvars.container_argv({"name": "a"}, [])
    assert info.value.reason == "ContainerCannotRun"


def test_referenced_objects():
    pod = {"spec": {"containers": [{"envFrom": [{"configMapRef": {"name": "a"}}],
                                    "env": [{"name": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}],
                    "volumes": [{"name": "v", "configMap": {"name": "b"}},
                                {"name": "p", "projected": {"sources": [{"secret": {"name": "t"}}]}},
                                {"name": "w", "secret": {"secretName": "u"}}]}}
    assert envvars.referenced_objects(pod) == ({"a", "b"}, {"s", "t", "u"})
