"""ObjectMeta validation and the name rules of every kind."""

from __future__ import annotations

from typing import Any

import pytest

from gitkube.apiserver.strategy import names

from . import causes_of, run

LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
SUBDOMAIN_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and "
                 "must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
DNS1035_MSG = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
               "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
               "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
QNAME_NAME_MSG = ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                  "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation "
                  "is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")
LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
                   "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
                   "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


def cm(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "default", **meta}}


def test_messages_match_kubernetes() -> None:
    assert names.is_dns1123_label("Bad_Name") == [LABEL_MSG]
    assert names.is_dns1123_label("a.b") == ["must not contain dots"]
    assert names.is_dns1123_subdomain("Bad_Name") == [SUBDOMAIN_MSG]
    assert names.is_dns1035_label("1abc") == [DNS1035_MSG]
    assert names.is_dns1123_label("a" * 64) == ["must be no more than 63 characters"]
    assert names.is_qualified_name("bad key!") == [QNAME_NAME_MSG]
    assert names.is_qualified_name("/x") == ["prefix part must be non-empty"]
    assert names.is_qualified_name("a/b/c")[0].startswith("a valid label key must consist of")
    assert names.is_valid_label_value("-x") == [LABEL_VALUE_MSG]
    assert names.is_valid_port_name("HTTP") == [
        "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)", "must contain at least one letter (a-z)"]
    assert names.is_valid_port_name("a--b") == ["must not contain consecutive hyphens"]
    assert names.is_valid_port_name("-ab") == ["must not begin or end with a hyphen"]
    assert names.is_valid_port_name("abcdefghijklmnop") == ["must be no more than 15 characters"]
    assert names.is_relaxed_env_var_name("A=B") == [
        "a valid environment variable name must consist only of printable ASCII characters other than '='"]
    assert names.is_relaxed_env_var_name("1-weird.name") == []
    assert names.is_env_var_name("1A")[0].startswith("a valid environment variable name must consist of alphabetic")
    assert names.is_config_map_key("..x") == ["must not start with '..'"]
    assert names.is_valid_ip("10.0.0.1") == [] and names.is_valid_ip("010.000.000.001") == []
    assert names.is_valid_ip("10.0.0") == ["must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
    assert names.is_valid_cidr("10.0.0.0/8") == [] and names.is_valid_cidr("10.0.0.1") != []
    assert names.is_path_segment_name("..") == ["may not be '..'"]
    assert names.is_path_segment_name("a/b%") == ["may not contain '/'", "may not contain '%'"]
    assert names.name_is_dns_subdomain("web-", True) == []  # generateName may end in '-'
    assert names.is_c_identifier("9a") != [] and names.is_c_identifier("_a9") == []
    assert names.is_http_header_name("X-Ok") == [] and names.is_http_header_name("X Bad") != []


# (kind, object, field, message)
NAME_CASES = [
    ("ConfigMap", cm(name="Bad_Name"), "metadata.name", f'Invalid value: "Bad_Name": {SUBDOMAIN_MSG}'),
    ("Namespace", {"metadata": {"name": "a.b"}}, "metadata.name", 'Invalid value: "a.b": must not contain dots'),
    ("Service", {"metadata": {"name": "1web", "namespace": "default"}, "spec": {"ports": [{"port": 80}]}},
     "metadata.name", f'Invalid value: "1web": {DNS1035_MSG}'),
    ("StatefulSet", {"metadata": {"name": "db.x", "namespace": "default"}}, "metadata.name",
     'Invalid value: "db.x": must not contain dots'),
    ("CronJob", {"metadata": {"name": "c" * 53, "namespace": "default"}, "spec": {"schedule": "@daily"}},
     "metadata.name", f'Invalid value: "{"c" * 53}": must be no more than 52 characters'),
]


@pytest.mark.parametrize(("kind", "obj", "field", "message"), NAME_CASES)
def test_name_rules(kind: str, obj: dict[str, Any], field: str, message: str) -> None:
    assert message in causes_of(run(kind, obj), field)


# (metadata overrides, field, message)
META_CASES = [
    ({"name": ""}, "metadata.name", "Required value: name or generateName is required"),
    ({"name": "", "generateName": "Bad_"}, "metadata.generateName", f'Invalid value: "Bad_": {SUBDOMAIN_MSG}'),
    ({"namespace": ""}, "metadata.namespace", "Required value"),
    ({"namespace": "Bad_NS"}, "metadata.namespace", f'Invalid value: "Bad_NS": {LABEL_MSG}'),
    ({"labels": {"bad key!": "v"}}, "metadata.labels", f'Invalid value: "bad key!": {QNAME_NAME_MSG}'),
    ({"labels": {"k": "-bad"}}, "metadata.labels", f'Invalid value: "-bad": {LABEL_VALUE_MSG}'),
    ({"labels": {"k": "v" * 64}}, "metadata.labels", f'Invalid value: "{"v" * 64}": must be no more than 63 characters'),
    ({"annotations": {"bad key!": "v"}}, "metadata.annotations", f'Invalid value: "bad key!": {QNAME_NAME_MSG}'),
    ({"annotations": {"big": "x" * (256 * 1024)}}, "metadata.annotations",
     "Too long: may not be more than 262144 bytes"),
    ({"generation": -1}, "metadata.generation", "Invalid value: -1: must be greater than or equal to 0"),
    ({"finalizers": ["custom"]}, "metadata.finalizers[0]",
     'Invalid value: "custom": name is neither a standard finalizer name nor is it fully qualified'),
    ({"finalizers": ["orphan", "foregroundDeletion"]}, "metadata.finalizers",
     'Invalid value: []string{"orphan", "foregroundDeletion"}: finalizer orphan and foregroundDeletion cannot be '
     "both set"),
    ({"ownerReferences": [{"apiVersion": "", "kind": "", "name": "", "uid": ""}]}, "metadata.ownerReferences.apiVersion",
     'Invalid value: "": version must not be empty'),
    ({"ownerReferences": [{"apiVersion": "v1", "kind": "", "name": "x", "uid": "u"}]}, "metadata.ownerReferences.kind",
     'Invalid value: "": must not be empty'),
    ({"ownerReferences": [{"apiVersion": "apps/v1", "kind": "A", "name": "a", "uid": "1", "controller": True},
                          {"apiVersion": "apps/v1", "kind": "B", "name": "b", "uid": "2", "controller": True}]},
     "metadata.ownerReferences", None),
]


@pytest.mark.parametrize(("meta", "field", "message"), META_CASES)
def test_metadata_rules(meta: dict[str, Any], field: str, message: str | None) -> None:
    found = causes_of(run("ConfigMap", cm(**meta)), field)
    if message is None:
        assert any("Only one reference can have Controller set to true. Found \"true\" in references for A/a and B/b"
                   in m for m in found), found
    else:
        assert message in found, found


def test_valid_metadata_passes() -> None:
    meta = {"labels": {"app.kubernetes.io/name": "web", "empty": ""},
            "annotations": {"Example.COM/Key": "x"}, "finalizers": ["kubernetes", "example.com/cleanup"],
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "1",
                                 "controller": True}]}
    assert run("ConfigMap", cm(**meta)) == []
    assert run("ConfigMap", cm(name="", generateName="cfg-")) == []


def test_cluster_scoped_namespace_is_dropped_and_update_skips_name() -> None:
    assert run("Namespace", {"metadata": {"name": "team-a", "namespace": "default"}}) == []
    old = cm(name="Bad_Name")
    assert run("ConfigMap", old, old) == []  # name format is not re-checked on update
    assert causes_of(run("ConfigMap", cm(labels={"k": "-bad"}), cm()), "metadata.labels")
