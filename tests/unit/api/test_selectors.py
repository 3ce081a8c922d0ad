"""Table-driven tests of gitkube.api.selectors: parsing and matching label and field selectors
as k8s.io/apimachinery/pkg/labels and pkg/fields do."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube import errors
from gitkube.api import selectors

# -- label selectors: parse ----------------------------------------------------------

# (selector text, its requirements as (key, operator, values), canonical string form)
LABEL_PARSE = [
    ("", [], ""),
    ("   ", [], ""),
    ("a=b", [("a", "=", ("b",))], "a=b"),
    ("a==b", [("a", "=", ("b",))], "a=b"),
    ("a!=b", [("a", "!=", ("b",))], "a!=b"),
    (" a = b ", [("a", "=", ("b",))], "a=b"),
    ("a=", [("a", "=", ("",))], "a="),
    ("a!=", [("a", "!=", ("",))], "a!="),
    ("a in (x,y)", [("a", "in", ("x", "y"))], "a in (x,y)"),
    ("a in (y, x , x)", [("a", "in", ("x", "y"))], "a in (x,y)"),
    ("a in(x)", [("a", "in", ("x",))], "a in (x)"),
    ("a notin (x)", [("a", "notin", ("x",))], "a notin (x)"),
    ("a notin(x,z)", [("a", "notin", ("x", "z"))], "a notin (x,z)"),
    ("a in ()", [("a", "in", ("",))], "a in ()"),  # as Kubernetes: "()" is the set {""}
    ("a", [("a", "exists", ())], "a"),
    ("!a", [("a", "!", ())], "!a"),
    ("! a", [("a", "!", ())], "!a"),
    ("a>1", [("a", "gt", ("1",))], "a>1"),
    ("a<10", [("a", "lt", ("10",))], "a<10"),
    ("example.com/app=web", [("example.com/app", "=", ("web",))], "example.com/app=web"),
    ("app.kubernetes.io/name in (web)", [("app.kubernetes.io/name", "in", ("web",))], "app.kubernetes.io/name in (web)"),
    ("A_b.c-D=V_1.x-Z", [("A_b.c-D", "=", ("V_1.x-Z",))], "A_b.c-D=V_1.x-Z"),
    (
        "a=b,c!=d,e in (f,g),!h,i",
        [("a", "=", ("b",)), ("c", "!=", ("d",)), ("e", "in", ("f", "g")), ("h", "!", ()), ("i", "exists", ())],
        "a=b,c!=d,e in (f,g),!h,i",
    ),
    ("x in (a,b),y", [("x", "in", ("a", "b")), ("y", "exists", ())], "x in (a,b),y"),
    ("in in (in)", [("in", "in", ("in",))], "in in (in)"),
    ("k" * 63 + "=" + "v" * 63, [("k" * 63, "=", ("v" * 63,))], "k" * 63 + "=" + "v" * 63),
]


@pytest.mark.parametrize(("text", "reqs", "canonical"), LABEL_PARSE)
def test_parse_label_selector(text: str, reqs: list[tuple[str, str, tuple[str, ...]]], canonical: str) -> None:
    sel = selectors.parse_label_selector(text)
    assert [(r.key, r.operator, r.values) for r in sel.requirements] == reqs
    assert str(sel) == canonical
    assert sel.empty == (not reqs)
    assert selectors.parse_label_selector(str(sel)) == sel, "the string form parses back to the same selector"


def test_parse_label_selector_none_is_empty() -> None:
    assert selectors.parse_label_selector(None).empty


# (selector text, a fragment of the error message)
LABEL_ERRORS = [
    ("a,", "empty requirement"),
    (",a", "empty requirement"),
    ("a=b,,c", "empty requirement"),
    ("a in (x", "unbalanced parentheses"),
    ("a in x)", "unbalanced parentheses"),
    ("a in ((x))", 'unable to parse requirement: "a in ((x))"'),
    ("a b", 'unable to parse requirement: "a b"'),
    ("a in", 'unable to parse requirement: "a in"'),
    ("a gt 1", 'unable to parse requirement: "a gt 1"'),
    ("a=b=c", 'invalid label value "b=c"'),
    ("a==b==c", 'invalid label value "b==c"'),
    ("a=-b", 'invalid label value "-b"'),
    ("a=b-", 'invalid label value "b-"'),
    ("a=(b)", 'invalid label value "(b)"'),
    ("a=" + "v" * 64, "invalid label value"),
    ("a in (x y)", 'invalid label value "x y"'),
    ("a in (x,-y)", 'invalid label value "-y"'),
    ("k" * 64, "invalid label key"),
    ("=b", 'invalid label key ""'),
    ("!", 'invalid label key ""'),
    ("!!a", 'invalid label key "!a"'),
    ("!a=b", 'invalid label key "!a"'),
    ("a!", 'invalid label key "a!"'),
    ("-a=b", 'invalid label key "-a"'),
    ("Example.com/a", 'invalid label key "Example.com/a"'),
    ("example.com/=x", 'invalid label key "example.com/"'),
    ("a/b/c=x", 'invalid label key "a/b/c"'),
    ("a>=1", 'invalid label key "a>"'),
    ("a>x", "the value must be an integer"),
    ("a<1.5", "the value must be an integer"),
]


@pytest.mark.parametrize(("text", "fragment"), LABEL_ERRORS)
def test_parse_label_selector_errors(text: str, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        selectors.parse_label_selector(text)
    assert fragment in info.value.message
    assert info.value.code == 400
    assert text in info.value.message, "the message quotes the selector"


# -- label selectors: match ----------------------------------------------------------

WEB_FRONT = {"app": "web", "tier": "front", "replicas": "3"}
DB = {"app": "db", "replicas": "x"}
NONE: dict[str, str] = {}

# (selector text, labels, matches?)
LABEL_MATCH = [
    ("", NONE, True),
    ("", WEB_FRONT, True),
    ("app=web", WEB_FRONT, True),
    ("app=web", DB, False),
    ("app=web", NONE, False),
    ("app==db", DB, True),
    ("app!=web", WEB_FRONT, False),
    ("app!=web", DB, True),
    ("app!=web", NONE, True),  # a missing label is "not equal"
    ("app in (web,db)", WEB_FRONT, True),
    ("app in (web,db)", DB, True),
    ("app in (web,db)", NONE, False),
    ("app in (cache)", WEB_FRONT, False),
    ("app notin (web)", WEB_FRONT, False),
    ("app notin (web)", DB, True),
    ("app notin (web)", NONE, True),  # a missing label is "not in"
    ("tier", WEB_FRONT, True),
    ("tier", DB, False),
    ("!tier", WEB_FRONT, False),
    ("!tier", DB, True),
    ("!tier", NONE, True),
    ("tier=", {"tier": ""}, True),
    ("tier=", NONE, False),
    ("tier in ()", {"tier": ""}, True),
    ("app=web,tier=front", WEB_FRONT, True),
    ("app=web,tier=back", WEB_FRONT, False),
    ("app=web,!tier", WEB_FRONT, False),
    ("replicas>2", WEB_FRONT, True),
    ("replicas>3", WEB_FRONT, False),
    ("replicas<4", WEB_FRONT, True),
    ("replicas<3", WEB_FRONT, False),
    ("replicas>0", DB, False),  # not an integer: no match
    ("replicas<9", NONE, False),  # missing: no match
    ("replicas>0", {"replicas": "1_0"}, False),  # Go's ParseInt rejects underscores
]


@pytest.mark.parametrize(("text", "labels", "expected"), LABEL_MATCH)
def test_label_selector_matches(text: str, labels: dict[str, str], expected: bool) -> None:
    sel = selectors.parse_label_selector(text)
    assert sel.matches(labels) is expected
    assert sel.matches_object({"metadata": {"labels": labels}}) is expected


@pytest.mark.parametrize(
    ("obj", "expected"),
    [({}, True), ({"metadata": None}, True), ({"metadata": {"labels": None}}, True), ({"metadata": {"labels": {"a": "1"}}}, False)],
)
def test_matches_object_without_labels(obj: dict[str, Any], expected: bool) -> None:
    assert selectors.parse_label_selector("!a").matches_object(obj) is expected
    assert selectors.parse_label_selector("a").matches_object(obj) is (not expected)


def test_matches_none_labels() -> None:
    assert selectors.parse_label_selector("!a").matches(None)
    assert not selectors.parse_label_selector("a").matches(None)


# -- metav1.LabelSelector ------------------------------------------------------------

SPEC_CASES: list[tuple[dict[str, Any] | None, dict[str, str], bool]] = [
    (None, WEB_FRONT, True),
    ({}, NONE, True),
    ({"matchLabels": {"app": "web"}}, WEB_FRONT, True),
    ({"matchLabels": {"app": "web", "tier": "back"}}, WEB_FRONT, False),
    ({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}, WEB_FRONT, True),
    ({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}, WEB_FRONT, False),
    ({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}, DB, False),
    ({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}, DB, True),
    (
        {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}]},
        WEB_FRONT,
        True,
    ),
]


@pytest.mark.parametrize(("spec", "labels", "expected"), SPEC_CASES)
def test_from_label_selector_spec(spec: dict[str, Any] | None, labels: dict[str, str], expected: bool) -> None:
    assert selectors.from_label_selector_spec(spec).matches(labels) is expected


def test_from_label_selector_spec_string_form() -> None:
    sel = selectors.from_label_selector_spec(
        {"matchLabels": {"b": "2", "a": "1"}, "matchExpressions": [{"key": "c", "operator": "NotIn", "values": ["y", "x"]}]}
    )
    assert str(sel) == "a=1,b=2,c notin (x,y)"


@pytest.mark.parametrize(
    ("expr", "fragment"),
    [
        ({"key": "a", "operator": "Equals", "values": ["x"]}, '"Equals" is not a valid label selector operator'),
        ({"key": "a", "operator": "In", "values": []}, "values set can't be empty"),
        ({"key": "a", "operator": "NotIn"}, "values set can't be empty"),
        ({"key": "a", "operator": "Exists", "values": ["x"]}, "values set must be empty"),
        ({"key": "a", "operator": "DoesNotExist", "values": ["x"]}, "values set must be empty"),
    ],
)
def test_from_label_selector_spec_errors(expr: dict[str, Any], fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        selectors.from_label_selector_spec({"matchExpressions": [expr]})
    assert fragment in info.value.message


# -- field selectors -----------------------------------------------------------------

FIELD_PARSE = [
    ("", []),
    (None, []),
    ("metadata.name=web", [("metadata.name", "=", "web")]),
    ("metadata.name==web", [("metadata.name", "=", "web")]),
    ("metadata.name!=web", [("metadata.name", "!=", "web")]),
    (" metadata.namespace = default ", [("metadata.namespace", "=", "default")]),
    ("spec.nodeName=", [("spec.nodeName", "=", "")]),
    ("status.phase!=Running,spec.nodeName=n-1", [("status.phase", "!=", "Running"), ("spec.nodeName", "=", "n-1")]),
    ("involvedObject.kind=Pod", [("involvedObject.kind", "=", "Pod")]),
]


@pytest.mark.parametrize(("text", "reqs"), FIELD_PARSE)
def test_parse_field_selector(text: str | None, reqs: list[tuple[str, str, str]]) -> None:
    sel = selectors.parse_field_selector(text)
    assert [(r.path, r.operator, r.value) for r in sel.requirements] == reqs
    assert sel.empty == (not reqs)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("metadata.name", "invalid selector: 'metadata.name'; can't understand 'metadata.name'"),
        ("metadata.name=a,spec", "can't understand 'spec'"),
        ("=web", 'invalid field selector: "=web"'),
        ("meta data=x", 'invalid field selector: "meta data=x"'),
        ("metadata/name=x", "invalid field selector"),
        ("a=b,", "can't understand ''"),
    ],
)
def test_parse_field_selector_errors(text: str, fragment: str) -> None:
    with pytest.raises(errors.BadRequest) as info:
        selectors.parse_field_selector(text)
    assert fragment in info.value.message


POD: dict[str, Any] = {
    "metadata": {"name": "web-1", "namespace": "prod"},
    "spec": {"nodeName": "node-a", "hostNetwork": True, "priority": 7, "containers": [{"name": "c"}]},
    "status": {"phase": "Running"},
}
EVENT: dict[str, Any] = {"metadata": {"name": "e", "namespace": "prod"}, "involvedObject": {"kind": "Pod", "name": "web-1"}}

FIELD_MATCH = [
    ("metadata.name=web-1", POD, True),
    ("metadata.name=web-2", POD, False),
    ("metadata.name!=web-2", POD, True),
    ("metadata.namespace=prod", POD, True),
    ("metadata.namespace=", POD, False),
    ("spec.nodeName=node-a", POD, True),
    ("spec.nodeName=", EVENT, True),  # missing fields compare as ""
    ("spec.nodeName!=", POD, True),
    ("status.phase=Running", POD, True),
    ("status.phase!=Running", POD, False),
    ("status.phase!=Running", EVENT, True),
    ("spec.hostNetwork=true", POD, True),
    ("spec.priority=7", POD, True),
    ("spec.containers=", POD, True),  # lists are not comparable: ""
    ("metadata.name.first=", POD, True),  # a step through a string is missing
    ("involvedObject.kind=Pod", EVENT, True),
    ("involvedObject.kind=Node", EVENT, False),
    ("involvedObject.kind=Pod,metadata.namespace=prod", EVENT, True),
    ("involvedObject.kind=Pod,metadata.namespace=dev", EVENT, False),
    ("", POD, True),
]


@pytest.mark.parametrize(("text", "obj", "expected"), FIELD_MATCH)
def test_field_selector_matches(text: str, obj: dict[str, Any], expected: bool) -> None:
    assert selectors.parse_field_selector(text).matches(obj) is expected


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("metadata.name", "web-1"),
        ("spec.hostNetwork", "true"),
        ("spec.priority", "7"),
        ("spec.containers", ""),
        ("spec", ""),
        ("status.missing", ""),
        ("nothing.at.all", ""),
    ],
)
def test_field_value(path: str, expected: str) -> None:
    assert selectors.field_value(POD, path) == expected


def test_field_value_false_is_false() -> None:
    assert selectors.field_value({"spec": {"hostNetwork": False}}, "spec.hostNetwork") == "false"


def test_value_for_returns_only_equality_pins() -> None:
    sel = selectors.parse_field_selector("metadata.namespace=prod,metadata.name!=x")
    assert sel.value_for("metadata.namespace") == "prod"
    assert sel.value_for("metadata.name") is None
    assert sel.value_for("spec.nodeName") is None
