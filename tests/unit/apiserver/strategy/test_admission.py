"""ValidatingAdmissionPolicy and ValidatingAdmissionPolicyBinding structure checks and defaults."""

from __future__ import annotations

from typing import Any

import pytest

from . import causes_of, defaulted, run

RULE = {"apiGroups": ["apps"], "apiVersions": ["v1"], "operations": ["CREATE", "UPDATE"], "resources": ["deployments"]}


def policy(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"matchConstraints": {"resourceRules": [dict(RULE)]},
                            "validations": [{"expression": "object.spec.replicas <= 5"}]}
    body.update(spec)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": "max-replicas"}, "spec": body}


def binding(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"policyName": "max-replicas", "validationActions": ["Deny"]}
    body.update(spec)
    return {"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": "max-replicas-binding"}, "spec": body}


def test_policy_defaults() -> None:
    spec = defaulted("ValidatingAdmissionPolicy", policy())["spec"]
    assert spec["failurePolicy"] == "Fail"
    match = spec["matchConstraints"]
    assert match["matchPolicy"] == "Equivalent"
    assert match["namespaceSelector"] == {} and match["objectSelector"] == {}
    assert match["resourceRules"][0]["scope"] == "*"
    assert run("ValidatingAdmissionPolicy", policy()) == []


def test_binding_defaults() -> None:
    spec = defaulted("ValidatingAdmissionPolicyBinding", binding(
        paramRef={"name": "limits"}, matchResources={"namespaceSelector": {"matchLabels": {"env": "prod"}}}))["spec"]
    assert spec["paramRef"]["parameterNotFoundAction"] == "Deny"
    assert spec["matchResources"]["matchPolicy"] == "Equivalent"
    assert spec["matchResources"]["objectSelector"] == {}
    assert run("ValidatingAdmissionPolicyBinding", binding(paramRef={"name": "limits"})) == []


POLICY_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"failurePolicy": "Panic"}, "spec.failurePolicy", 'Unsupported value: "Panic": supported values: "Fail", "Ignore"'),
    ({"matchConstraints": None}, "spec.matchConstraints", "Required value"),
    ({"matchConstraints": {"resourceRules": []}}, "spec.matchConstraints.resourceRules", "Required value"),
    ({"matchConstraints": {"resourceRules": [{**RULE, "operations": []}]}},
     "spec.matchConstraints.resourceRules[0].operations", "Required value"),
    ({"matchConstraints": {"resourceRules": [{**RULE, "operations": ["PATCH"]}]}},
     "spec.matchConstraints.resourceRules[0].operations[0]",
     'Unsupported value: "PATCH": supported values: "*", "CONNECT", "CREATE", "DELETE", "UPDATE"'),
    ({"matchConstraints": {"resourceRules": [{**RULE, "operations": ["*", "CREATE"]}]}},
     "spec.matchConstraints.resourceRules[0].operations",
     "Invalid value: []string{\"*\", \"CREATE\"}: if '*' is present, must not specify other operations"),
    ({"matchConstraints": {"resourceRules": [{**RULE, "apiGroups": []}]}},
     "spec.matchConstraints.resourceRules[0].apiGroups", "Required value"),
    ({"matchConstraints": {"resourceRules": [{**RULE, "resources": ["*/*", "pods"]}]}},
     "spec.matchConstraints.resourceRules[0].resources",
     "Invalid value: []string{\"*/*\", \"pods\"}: if '*/*' is present, must not specify other resources"),
    ({"matchConstraints": {"resourceRules": [{**RULE, "scope": "Galaxy"}]}},
     "spec.matchConstraints.resourceRules[0].scope",
     'Unsupported value: "Galaxy": supported values: "*", "Cluster", "Namespaced"'),
    ({"matchConstraints": {"resourceRules": [RULE], "matchPolicy": "Fuzzy"}}, "spec.matchConstraints.matchPolicy",
     'Unsupported value: "Fuzzy": supported values: "Equivalent", "Exact"'),
    ({"validations": []}, "spec.validations",
     "Required value: validations or auditAnnotations must contain at least one item"),
    ({"validations": [{"expression": "  "}]}, "spec.validations[0].expression",
     "Required value: expression is not specified"),
    ({"validations": [{"expression": "true", "reason": "Teapot"}]}, "spec.validations[0].reason",
     'Unsupported value: "Teapot": supported values: "Forbidden", "Invalid", "RequestEntityTooLarge"'),
    ({"validations": [{"expression": "true", "message": "a\nb"}]}, "spec.validations[0].message",
     'Invalid value: "a\\nb": message must not contain line breaks'),
    ({"paramKind": {"apiVersion": "v1"}}, "spec.paramKind.kind", "Required value"),
    ({"paramKind": {"apiVersion": "example.com/", "kind": "Config"}}, "spec.paramKind.apiVersion",
     'Invalid value: "example.com/": version must be specified'),
    ({"matchConditions": [{"name": "", "expression": "true"}]}, "spec.matchConditions[0].name", "Required value"),
    ({"matchConditions": [{"name": "a", "expression": "true"}, {"name": "a", "expression": "true"}]},
     "spec.matchConditions[1].name", 'Duplicate value: "a"'),
    ({"variables": [{"name": "1st", "expression": "x"}]}, "spec.variables[0].name",
     'Invalid value: "1st": name is not a valid CEL identifier'),
    ({"auditAnnotations": [{"key": "k", "valueExpression": ""}]}, "spec.auditAnnotations[0].valueExpression",
     "Required value: valueExpression is not specified"),
]


@pytest.mark.parametrize(("spec", "field", "message"), POLICY_CASES)
def test_policy_rule(spec: dict[str, Any], field: str, message: str) -> None:
    obj = policy(**spec)
    if spec.get("matchConstraints", 0) is None:
        del obj["spec"]["matchConstraints"]
    causes = run("ValidatingAdmissionPolicy", obj)
    assert message in causes_of(causes, field), [(c.field, c.message) for c in causes]


BINDING_CASES: list[tuple[dict[str, Any], str, str | None]] = [
    ({"policyName": ""}, "spec.policyName", "Required value"),
    ({"policyName": "Bad_Policy"}, "spec.policyName", None),
    ({"validationActions": []}, "spec.validationActions", "Required value: at least one validation action is required"),
    ({"validationActions": ["Block"]}, "spec.validationActions[0]",
     'Unsupported value: "Block": supported values: "Audit", "Deny", "Warn"'),
    ({"validationActions": ["Deny", "Deny"]}, "spec.validationActions[1]", 'Duplicate value: "Deny"'),
    ({"validationActions": ["Deny", "Warn"]}, "spec.validationActions",
     'Invalid value: []string{"Deny", "Warn"}: must not contain both Deny and Warn (repeating the same validation '
     "failure information in the API response and headers serves no purpose)"),
    ({"paramRef": {}}, "spec.paramRef", "Required value: one of name or selector must be specified"),
    ({"paramRef": {"name": "a", "selector": {}}}, "spec.paramRef.name",
     "Forbidden: name and selector are mutually exclusive"),
    ({"paramRef": {"name": "a", "parameterNotFoundAction": "Ignore"}}, "spec.paramRef.parameterNotFoundAction",
     'Unsupported value: "Ignore": supported values: "Deny", "Allow"'),
    ({"matchResources": {"resourceRules": [{**RULE, "apiVersions": [""]}]}},
     "spec.matchResouces.resourceRules[0].apiVersions[0]", "Required value"),
]


@pytest.mark.parametrize(("spec", "field", "message"), BINDING_CASES)
def test_binding_rule(spec: dict[str, Any], field: str, message: str | None) -> None:
    causes = run("ValidatingAdmissionPolicyBinding", binding(**spec))
    found = causes_of(causes, field)
    assert (message in found) if message else found, [(c.field, c.message) for c in causes]
