"""gitkube.policy: compile errors, the per-generation cache, matching rules and evaluation details."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.policy.cel import CelCompileError, activation, compile_expression
from gitkube.policy.compiler import PolicyCache, PolicyCompileError, compile_policy
from gitkube.policy.evaluate import evaluate_binding
from gitkube.policy.match import Attributes, matches


def _policy(validations: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p", "uid": "u1", "generation": 1},
            "spec": {"matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                              "operations": ["*"], "resources": ["configmaps"]}]},
                     "validations": validations, **spec}}


def _attrs(obj: dict[str, Any] | None = None, **kw: Any) -> Attributes:
    base: dict[str, Any] = dict(operation="CREATE", group="", version="v1", kind="ConfigMap", resource="configmaps",
                                name="c", namespace="ns", object=obj if obj is not None else {"metadata": {"name": "c"}})
    base.update(kw)
    return Attributes(**base)


def test_compile_errors_name_policy_and_index() -> None:
    with pytest.raises(PolicyCompileError) as exc:
        compile_policy(_policy([{"expression": "true"}, {"expression": "1 +"}, {"expression": "'s'"},
                                {"expression": "true", "messageExpression": "1"}]))
    fields = [f for f, _ in exc.value.problems]
    assert fields == ["spec.validations[1].expression", "spec.validations[2].expression",
                      "spec.validations[3].messageExpression"]
    assert str(exc.value).startswith("ValidatingAdmissionPolicy 'p': CEL does not compile: spec.validations[1]")
    with pytest.raises(CelCompileError, match="undeclared reference to 'ip'"):
        compile_expression("ip('10.0.0.1') != null")


def test_cache_recompiles_on_a_new_generation_only() -> None:
    cache = PolicyCache()
    first = cache.get(_policy([{"expression": "true"}]))
    assert cache.get(_policy([{"expression": "true"}])) is first
    changed = _policy([{"expression": "false"}])
    changed["metadata"]["generation"] = 2
    assert cache.get(changed) is not first
    broken = _policy([{"expression": "("}])
    broken["metadata"]["generation"] = 3
    with pytest.raises(PolicyCompileError):
        cache.get(broken)


@pytest.mark.parametrize(("resources", "subresource", "expected"), [
    (["configmaps"], "", True), (["configmaps"], "status", False), (["*"], "status", False),
    (["*/*"], "status", True), (["configmaps/*"], "status", True), (["*/status"], "status", True),
    (["*/status"], "", False), (["secrets"], "", False),
])
def test_resource_rule_forms(resources: list[str], subresource: str, expected: bool) -> None:
    match = {"resourceRules": [{"apiGroups": ["*"], "apiVersions": ["*"], "operations": ["CREATE"],
                                "resources": resources}]}
    assert matches(match, _attrs(subresource=subresource)) is expected


def test_scope_names_exclusions_and_selectors() -> None:
    rule = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["*"]}
    assert not matches({"resourceRules": [{**rule, "scope": "Cluster"}]}, _attrs())
    assert not matches({"resourceRules": [{**rule, "resourceNames": ["other"]}]}, _attrs())
    assert not matches({"resourceRules": [rule], "excludeResourceRules": [rule]}, _attrs())
    assert not matches({"resourceRules": [rule]}, _attrs(operation="DELETE"))
    prod = {"metadata": {"name": "ns", "labels": {"env": "prod"}}}
    selector = {"matchLabels": {"env": "prod"}}
    assert matches({"resourceRules": [rule], "namespaceSelector": selector}, _attrs(namespace_object=prod))
    assert not matches({"resourceRules": [rule], "namespaceSelector": selector}, _attrs(namespace_object={}))
    labelled = {"metadata": {"name": "c", "labels": {"env": "prod"}}}
    assert matches({"resourceRules": [rule], "objectSelector": selector},
                   _attrs(object={"metadata": {"name": "c"}}, old_object=labelled))
    assert not matches({"resourceRules": [rule], "objectSelector": selector}, _attrs())


def test_variables_match_conditions_and_request() -> None:
    compiled = compile_policy(_policy(
        [{"expression": "variables.n <= 1", "messageExpression": "request.userInfo.username + ' has ' + "
                                                                   "string(variables.n)"}],
        variables=[{"name": "n", "expression": "size(object.data)"}],
        matchConditions=[{"name": "not-system", "expression": "request.namespace != 'kube-system'"}]))
    binding = {"metadata": {"name": "b"}, "spec": {"policyName": "p", "validationActions": ["Deny"]}}
    obj = {"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}}
    [decision] = evaluate_binding(compiled, binding, _attrs(obj, username="alice"))
    assert (decision.action, decision.message, decision.reason) == ("Deny", "alice has 2", "Invalid")
    assert evaluate_binding(compiled, binding, _attrs(obj, namespace="kube-system")) == []


def test_optional_field_access() -> None:
    prog = compile_expression("object.?spec.?replicas.orValue(1) <= 3", want="bool")
    assert prog.eval(activation({"object": {}})) is True
    assert prog.eval(activation({"object": {"spec": {"replicas": 4}}})) is False
