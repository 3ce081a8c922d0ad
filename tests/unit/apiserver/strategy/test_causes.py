"""Field error wording and value rendering, the dispatcher and the 422 error builder."""

from __future__ import annotations

import pytest

from gitkube.api.quantity import parse_quantity
from gitkube.apiserver import strategy
from gitkube.apiserver.strategy import causes as c
from gitkube.errors import Cause, Invalid

from . import info, pod, run


@pytest.mark.parametrize(("value", "shown"), [
    ("Bad_Name", '"Bad_Name"'),
    ('a"b\\c\n', '"a\\"b\\\\c\\n"'),
    ("\x01", '"\\x01"'),
    ("héllo", '"héllo"'),
    (5, "5"),
    (-1, "-1"),
    (True, "true"),
    (None, "null"),
    (c.go_map({"app": "web", "a": "b"}), 'map[string]string{"a":"b", "app":"web"}'),
    ({"port": "http"}, '{"port":"http"}'),
    (["x", "y"], '[]string{"x", "y"}'),
    ({"port": 80}, '{"port":80}'),
    (parse_quantity("0.5"), '"500m"'),
    (c.Raw("v1.Thing{}"), "v1.Thing{}"),
])
def test_render(value: object, shown: str) -> None:
    assert c.render(value) == shown


def test_builders() -> None:
    assert c.required("spec.x") == Cause("spec.x", "Required value", "FieldValueRequired")
    assert c.required("spec.x", "why") == Cause("spec.x", "Required value: why", "FieldValueRequired")
    assert c.forbidden("spec", "no") == Cause("spec", "Forbidden: no", "FieldValueForbidden")
    assert c.invalid("a", "b", "bad") == Cause("a", 'Invalid value: "b": bad', "FieldValueInvalid")
    assert c.immutable("a", 3).message == "Invalid value: 3: field is immutable"
    assert c.not_supported("t", "Foo", ("A", "B")) == Cause(
        "t", 'Unsupported value: "Foo": supported values: "A", "B"', "FieldValueNotSupported")
    assert c.duplicate("n", "x") == Cause("n", 'Duplicate value: "x"', "FieldValueDuplicate")
    assert c.not_found("n", "x") == Cause("n", 'Not found: "x"', "FieldValueNotFound")
    assert c.too_long("d", 1048576) == Cause("d", "Too long: may not be more than 1048576 bytes", "FieldValueTooLong")
    assert c.too_many("m", 65, 64) == Cause("m", "Too many: 65: must have at most 64 items", "FieldValueTooMany")
    assert c.child("spec", "a", "b") == "spec.a.b" and c.child("", "x") == "x"
    assert c.index("spec.containers", 2) == "spec.containers[2]"
    assert c.key("metadata.labels", "app") == "metadata.labels[app]"


def test_dedupe_keeps_first_order() -> None:
    a, b = c.required("a"), c.required("b")
    assert c.dedupe([a, b, a]) == [a, b]


def test_to_invalid_message_and_details() -> None:
    causes = [c.invalid("metadata.name", "Bad_Name", "x"), c.required("spec.selector")]
    err = strategy.to_invalid(info("Deployment"), "Bad_Name", causes)
    assert isinstance(err, Invalid)
    assert err.message == ('Deployment.apps "Bad_Name" is invalid: '
                           '[metadata.name: Invalid value: "Bad_Name": x, spec.selector: Required value]')
    status = err.to_status()
    assert status["code"] == 422 and status["reason"] == "Invalid"
    assert status["details"] == {"name": "Bad_Name", "group": "apps", "kind": "Deployment",
                                 "causes": [x.to_dict() for x in causes]}
    single = strategy.to_invalid(info("Pod"), "p", [c.required("spec.containers")])
    assert single.message == 'Pod "p" is invalid: spec.containers: Required value'


def test_unknown_kind_and_non_dict_are_tolerated() -> None:
    other = info("Pod").__class__(group="x.io", version="v1", kind="Widget", plural="widgets", namespaced=True)
    obj = {"metadata": {"name": "Bad_Name"}}
    strategy.default(other, obj)
    assert obj == {"metadata": {"name": "Bad_Name"}}
    assert strategy.validate(other, obj, None) == []
    assert strategy.validate(info("Pod"), "junk", None) == [  # type: ignore[arg-type]
        c.required("metadata.name", "name or generateName is required")]


def test_every_served_kind_has_a_strategy() -> None:
    from gitkube.api import scheme

    assert {r.kind for r in scheme.ALL_RESOURCES} == set(strategy.STRATEGIES)


def test_wrong_types_never_raise() -> None:
    """Mistyped fields are the schema check's to report; strategies must not crash on them."""
    junk_values = [None, 5, "x", [], {}, [1, "a", None], {"a": 1}]
    for kind in strategy.STRATEGIES:
        for junk in junk_values:
            for body in ({"spec": junk}, {"metadata": junk}, {"spec": {"template": junk, "containers": junk,
                                                                       "ports": junk, "selector": junk}}):
                obj = {"apiVersion": "v1", "kind": kind, **body}
                strategy.default(info(kind), obj)
                assert isinstance(strategy.validate(info(kind), obj, None), list)
                assert isinstance(strategy.validate(info(kind), obj, obj), list)


def test_validate_is_deterministic_and_defaults_idempotent() -> None:
    obj = pod()
    first = run("Pod", obj)
    assert first == run("Pod", obj) == []
    once = strategy.default
    a = {"x": 1} | pod()
    once(info("Pod"), a)
    snapshot = repr(a)
    once(info("Pod"), a)
    assert repr(a) == snapshot
