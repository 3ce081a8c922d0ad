"""FieldsV1 encoding and field-set algebra."""

from __future__ import annotations

import json

import pytest

from gitkube.api.fieldsv1 import (
    FieldSet,
    canonical_json,
    field_pe,
    index_pe,
    key_pe,
    path_string,
    value_pe,
)

F = field_pe


def test_encoding_matches_kubernetes() -> None:
    s = FieldSet.of(
        (F("metadata"), F("labels"), F("app")),
        (F("spec"), F("containers"), key_pe({"name": "web"})),
        (F("spec"), F("containers"), key_pe({"name": "web"}), F("image")),
        (F("spec"), F("ports"), key_pe({"protocol": "TCP", "containerPort": 80})),
        (F("metadata"), F("finalizers"), value_pe("example.com/x")),
        (F("spec"), F("args"), index_pe(2)),
    )
    encoded = s.to_fields_v1()
    assert json.dumps(encoded, separators=(",", ":")) == (
        '{"f:metadata":{"f:finalizers":{"v:\\"example.com/x\\"":{}},"f:labels":{"f:app":{}}},'
        '"f:spec":{"f:args":{"i:2":{}},"f:containers":{"k:{\\"name\\":\\"web\\"}":{".":{},"f:image":{}}},'
        '"f:ports":{"k:{\\"containerPort\\":80,\\"protocol\\":\\"TCP\\"}":{}}}}'
    )
    assert FieldSet.from_fields_v1(encoded) == s


def test_decoding_real_managed_fields() -> None:
    raw = {
        "f:metadata": {"f:labels": {".": {}, "f:app": {}}},
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {
                        'k:{"name":"nginx"}': {
                            ".": {},
                            "f:image": {},
                            "f:ports": {".": {}, 'k:{"containerPort":80,"protocol":"TCP"}': {".": {}}},
                        }
                    }
                }
            }
        },
        "x:future": {},
    }
    s = FieldSet.from_fields_v1(raw)
    container = (F("spec"), F("template"), F("spec"), F("containers"), key_pe({"name": "nginx"}))
    assert s.has((F("metadata"), F("labels")))
    assert s.has((F("metadata"), F("labels"), F("app")))
    assert s.has(container)
    assert s.has((*container, F("ports"), key_pe({"containerPort": 80, "protocol": "TCP"})))
    assert not s.has((F("spec"),))
    assert "x:future" not in s.to_fields_v1(), "unknown element kinds are dropped"


@pytest.mark.parametrize("bad", [[], {"f:a": []}, {"nocolon": {}}, {'k:["x"]': {}}])
def test_malformed_fields_v1(bad: object) -> None:
    with pytest.raises(ValueError):
        FieldSet.from_fields_v1(bad)


def test_path_strings_as_in_conflicts() -> None:
    path = (F("spec"), F("template"), F("spec"), F("containers"), key_pe({"name": "web"}), F("image"))
    assert path_string(path) == '.spec.template.spec.containers[name="web"].image'
    assert (
        path_string((F("spec"), F("ports"), key_pe({"port": 80, "protocol": "TCP"})))
        == '.spec.ports[port=80,protocol="TCP"]'
    )
    assert path_string((F("metadata"), F("finalizers"), value_pe("a"))) == '.metadata.finalizers[="a"]'
    assert path_string((F("spec"), index_pe(3))) == ".spec[3]"


def test_algebra() -> None:
    a = FieldSet.of((F("a"),), (F("a"), F("b")), (F("c"), F("d")))
    b = FieldSet.of((F("a"),), (F("c"), F("e")))
    assert a.union(b) == FieldSet.of((F("a"),), (F("a"), F("b")), (F("c"), F("d")), (F("c"), F("e")))
    assert a.intersection(b) == FieldSet.of((F("a"),))
    # difference is not recursive: a.b stays although a is removed
    assert a.difference(b) == FieldSet.of((F("a"), F("b")), (F("c"), F("d")))
    # recursive difference removes the subtree of a removed member
    assert a.recursive_difference(b) == FieldSet.of((F("c"), F("d")))
    assert FieldSet().empty() and not FieldSet()
    assert len(a) == 3
    assert a.with_prefix(F("c")) == FieldSet.of((F("d"),))


def test_iteration_order_is_members_first_then_children() -> None:
    s = FieldSet.of((F("spec"), F("z")), (F("spec"),), (F("b"), F("x")), (F("a"),))
    assert [path_string(p) for p in s.paths()] == [".a", ".spec", ".b.x", ".spec.z"]


def test_canonical_json_is_go_like() -> None:
    assert canonical_json({"b": 1.0, "a": "<&>"}) == '{"a":"\\u003c\\u0026\\u003e","b":1}'
    assert canonical_json("é") == '"é"'
