"""ValidatingAdmissionPolicy enforcement by the API server's admission (real SQLite store,
the real registry; one test over HTTP for the Warning header and request.userInfo)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gitkube import errors
from gitkube.api import scheme
from gitkube.apiserver import bootstrap, deletion, ipalloc
from gitkube.apiserver import registry as reg
from gitkube.store import SqliteStore
from gitkube.testing import running_apiserver


def _resource(group: str, plural: str) -> scheme.ResourceInfo:
    info = scheme.by_plural(group, plural)
    assert info is not None
    return info


CM = _resource("", "configmaps")
DEPLOY = _resource("apps", "deployments")
VAP = _resource("admissionregistration.k8s.io", "validatingadmissionpolicies")
VAPB = _resource("admissionregistration.k8s.io", "validatingadmissionpolicybindings")


@pytest.fixture
async def registry(tmp_path: Path) -> AsyncIterator[reg.Registry]:
    store = SqliteStore(tmp_path / "state.db")
    await store.open()
    r = reg.Registry(store, ipalloc.ClusterIPAllocator())
    await bootstrap.ensure_defaults(r, "127.0.0.1", 6443)
    yield r
    await store.close()


def policy(name: str, expression: str, *, operations: tuple[str, ...] = ("CREATE", "UPDATE"),
           resources: tuple[str, ...] = ("configmaps",), **extra: Any) -> dict[str, Any]:
    validation = {"expression": expression, "message": f"{name} says no"}
    validation.update(extra.pop("validation", {}))
    return {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": ["", "apps"], "apiVersions": ["v1"],
                                                          "operations": list(operations),
                                                          "resources": list(resources)}]},
                 "validations": [validation], **extra},
    }


def binding(name: str, policy_name: str, actions: tuple[str, ...] = ("Deny",), **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name}, "spec": {"policyName": policy_name, "validationActions": list(actions), **spec}}


def cm(name: str, data: dict[str, str] | None = None, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "labels": labels or {}},
            "data": data or {}}


async def _install(r: reg.Registry, *objs: dict[str, Any]) -> None:
    for obj in objs:
        info = VAP if obj["kind"] == "ValidatingAdmissionPolicy" else VAPB
        await r.create(info, None, obj, reg.WriteOptions())


async def test_deny_uses_kubernetes_wording_and_reason_code(registry: reg.Registry) -> None:
    await _install(registry, policy("no-bad", "!('bad' in object.data)"), binding("no-bad-b", "no-bad"))
    await registry.create(CM, "default", cm("fine", {"good": "1"}), reg.WriteOptions())
    with pytest.raises(errors.Invalid) as exc:
        await registry.create(CM, "default", cm("evil", {"bad": "1"}), reg.WriteOptions())
    assert exc.value.message == ('configmaps "evil" is forbidden: ValidatingAdmissionPolicy \'no-bad\' with binding '
                                 "'no-bad-b' denied request: no-bad says no")
    with pytest.raises(errors.NotFound):
        await registry.get(CM, "default", "evil")
    # an update is checked too, and a dry run is refused the same way
    with pytest.raises(errors.Invalid):
        await registry.mutate(CM, "default", "fine", lambda live: {**live, "data": {"bad": "x"}}, reg.WriteOptions())
    with pytest.raises(errors.Invalid):
        await registry.create(CM, "default", cm("dry", {"bad": "1"}), reg.WriteOptions(dry_run=True))


async def test_reason_forbidden_is_403_and_message_expression_wins(registry: reg.Registry) -> None:
    await _install(registry, policy("p", "object.metadata.name.startsWith('ok-')",
                                    validation={"reason": "Forbidden",
                                                "messageExpression": "'name ' + object.metadata.name + ' refused'"}),
                   binding("b", "p"))
    with pytest.raises(errors.Forbidden) as exc:
        await registry.create(CM, "default", cm("nope"), reg.WriteOptions())
    assert exc.value.code == 403 and exc.value.message.endswith("denied request: name nope refused")


async def test_warn_and_audit_do_not_block(registry: reg.Registry) -> None:
    await _install(registry, policy("p", "size(object.data) < 2"), binding("b", "p", ("Warn", "Audit")))
    result = await registry.create(CM, "default", cm("big", {"a": "1", "b": "2"}), reg.WriteOptions())
    assert result.warnings == ["Validation failed for ValidatingAdmissionPolicy 'p' with binding 'b': p says no"]


async def test_policy_that_does_not_compile_is_refused_with_422(registry: reg.Registry) -> None:
    bad = policy("broken", "true")
    bad["spec"]["validations"].append({"expression": "object.data.size( >", "message": "m"})
    with pytest.raises(errors.Invalid) as exc:
        await registry.create(VAP, None, bad, reg.WriteOptions())
    assert exc.value.message.startswith(
        'ValidatingAdmissionPolicy.admissionregistration.k8s.io "broken" is invalid: '
        "spec.validations[1].expression: compilation failed:")
    with pytest.raises(errors.NotFound):
        await registry.get(VAP, None, "broken")


async def test_bindings_are_cached_and_invalidated_on_change(registry: reg.Registry) -> None:
    await _install(registry, policy("p", "!('bad' in object.data)"))
    await registry.create(CM, "default", cm("one", {"bad": "1"}), reg.WriteOptions())  # not bound yet
    await _install(registry, binding("b", "p"))
    with pytest.raises(errors.Invalid):
        await registry.create(CM, "default", cm("two", {"bad": "1"}), reg.WriteOptions())
    # the policy changes: the new expression applies at once (recompiled for the new generation)
    await registry.mutate(VAP, None, "p", lambda live: {**live, "spec": {
        **live["spec"], "validations": [{"expression": "!('worse' in object.data)"}]}}, reg.WriteOptions())
    await registry.create(CM, "default", cm("three", {"bad": "1"}), reg.WriteOptions())
    with pytest.raises(errors.Invalid) as exc:
        await registry.create(CM, "default", cm("four", {"worse": "1"}), reg.WriteOptions())
    assert exc.value.message.endswith("denied request: failed expression: !('worse' in object.data)")
    await deletion.delete(registry, VAPB, None, "b", deletion.DeleteOptions())
    await registry.create(CM, "default", cm("five", {"worse": "1"}), reg.WriteOptions())


async def test_params_selectors_and_not_found_action(registry: reg.Registry) -> None:
    await _install(registry,
                   policy("cap", "size(object.data) <= int(params.data.max)",
                          paramKind={"apiVersion": "v1", "kind": "ConfigMap"},
                          validation={"messageExpression": "'at most ' + params.data.max + ' keys'"}),
                   binding("cap-b", "cap", paramRef={"name": "cap-params", "parameterNotFoundAction": "Allow"},
                           matchResources={"objectSelector": {"matchLabels": {"capped": "yes"}}}))
    three = {"a": "1", "b": "2", "c": "3"}
    await registry.create(CM, "default", cm("no-params-yet", three, {"capped": "yes"}), reg.WriteOptions())
    await registry.create(CM, "default", cm("cap-params", {"max": "2"}), reg.WriteOptions())
    await registry.create(CM, "default", cm("not-selected", three), reg.WriteOptions())
    with pytest.raises(errors.Invalid) as exc:
        await registry.create(CM, "default", cm("selected", three, {"capped": "yes"}), reg.WriteOptions())
    assert exc.value.message.endswith("denied request: at most 2 keys")


async def test_delete_is_checked_when_the_policy_matches_delete(registry: reg.Registry) -> None:
    await _install(registry, policy("keep", "!oldObject.metadata.name.startsWith('keep-')", operations=("DELETE",)),
                   binding("keep-b", "keep"))
    await registry.create(CM, "default", cm("keep-me"), reg.WriteOptions())
    await registry.create(CM, "default", cm("drop-me"), reg.WriteOptions())
    with pytest.raises(errors.Invalid):
        await deletion.delete(registry, CM, "default", "keep-me", deletion.DeleteOptions())
    await deletion.delete(registry, CM, "default", "drop-me", deletion.DeleteOptions())
    await registry.get(CM, "default", "keep-me")


async def test_runtime_error_follows_failure_policy(registry: reg.Registry) -> None:
    await _install(registry, policy("strict", "object.data.missing == 'x'"), binding("strict-b", "strict"),
                   policy("lenient", "object.data.missing == 'x'", failurePolicy="Ignore", resources=("deployments",)),
                   binding("lenient-b", "lenient"))
    with pytest.raises(errors.Invalid) as exc:
        await registry.create(CM, "default", cm("x"), reg.WriteOptions())
    assert "expression 'object.data.missing == 'x'' resulted in error" in exc.value.message
    deploy = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
              "spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}},
                       "spec": {"containers": [{"name": "c", "image": "i:1"}]}}}}
    await registry.create(DEPLOY, "default", deploy, reg.WriteOptions())


async def test_over_http_warning_header_and_username(tmp_path: Path) -> None:
    async with running_apiserver(tmp_path / "data") as (server, client):
        await client.create(VAP, policy("who", "request.userInfo.username == 'nobody'",
                                        validation={"messageExpression": "'written by ' + request.userInfo.username"}))
        await client.create(VAPB, binding("who-b", "who", ("Warn",)))
        conn = aiohttp.UnixConnector(path=str(server.socket_path))
        async with aiohttp.ClientSession(connector=conn) as session:
            async with session.post("http://localhost/api/v1/namespaces/default/configmaps",
                                    data=json.dumps(cm("w")),
                                    headers={"Authorization": f"Bearer {server.creds.admin_token}",
                                             "Content-Type": "application/json"}) as resp:
                assert resp.status == 201
                assert resp.headers.getall("Warning") == [
                    '299 - "Validation failed for ValidatingAdmissionPolicy \'who\' with binding \'who-b\': '
                    'written by gitkube-admin"']


async def test_namespace_selector_reads_the_namespace(registry: reg.Registry) -> None:
    ns = _resource("", "namespaces")
    await registry.create(ns, None, {"apiVersion": "v1", "kind": "Namespace",
                                     "metadata": {"name": "prod", "labels": {"env": "prod"}}}, reg.WriteOptions())
    await _install(registry, policy("p", "!('bad' in object.data)"),
                   binding("b", "p", matchResources={"namespaceSelector": {"matchLabels": {"env": "prod"}}}))
    await registry.create(CM, "default", cm("elsewhere", {"bad": "1"}), reg.WriteOptions())
    with pytest.raises(errors.Invalid):
        await registry.create(CM, "prod", cm("in-prod", {"bad": "1"}), reg.WriteOptions())
