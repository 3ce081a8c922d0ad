from __future__ import annotations

import json

from gitkube.api import scheme
from gitkube.apiserver import discovery, openapi


def test_negotiate_prefers_v2() -> None:
    accept = ("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
              "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json")
    assert discovery.negotiate(accept) == "v2"
    assert discovery.negotiate("application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList") == "v2beta1"
    assert discovery.negotiate("application/json, */*") is None
    assert discovery.content_type("v2") == "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def test_aggregated_core_lists_every_core_resource() -> None:
    doc = discovery.aggregated(True, "v2")
    assert [i["metadata"]["name"] for i in doc["items"]] == [""]
    resources = {r["resource"]: r for r in doc["items"][0]["versions"][0]["resources"]}
    assert set(resources) == {r.plural for r in scheme.ALL_RESOURCES if r.group == ""}
    pods = resources["pods"]
    assert pods["shortNames"] == ["po"] and pods["categories"] == ["all"] and pods["scope"] == "Namespaced"
    assert {s["subresource"] for s in pods["subresources"]} >= {"status", "log", "binding"}
    assert resources["nodes"]["scope"] == "Cluster"


def test_aggregated_groups_and_scale_kind() -> None:
    doc = discovery.aggregated(False, "v2")
    groups = [i["metadata"]["name"] for i in doc["items"]]
    assert groups[:3] == ["apps", "batch", "networking.k8s.io"]
    apps = doc["items"][0]["versions"][0]["resources"]
    deploy = next(r for r in apps if r["resource"] == "deployments")
    scale = next(s for s in deploy["subresources"] if s["subresource"] == "scale")
    assert scale["responseKind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}


def test_legacy_documents() -> None:
    assert discovery.api_group("apps")["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert discovery.api_group("nope") is None
    lst = discovery.api_resource_list("apps", "v1")
    names = [r["name"] for r in lst["resources"]]
    assert "deployments" in names and "deployments/scale" in names
    scale = next(r for r in lst["resources"] if r["name"] == "deployments/scale")
    assert (scale["group"], scale["version"], scale["kind"]) == ("autoscaling", "v1", "Scale")


def test_openapi_v3_has_fieldvalidation_patch_for_every_kind() -> None:
    spec = openapi.OpenAPIV3()
    index = spec.index()["paths"]
    for r in scheme.ALL_RESOURCES:
        key = f"apis/{r.group}/{r.version}" if r.group else "api/v1"
        url = index[key]["serverRelativeURL"]
        body, digest = spec.document(key)
        assert url.endswith(digest)
        doc = json.loads(body)
        gvks = [op["patch"]["x-kubernetes-group-version-kind"] for op in doc["paths"].values() if "patch" in op
                and any(p["name"] == "fieldValidation" for p in op["patch"]["parameters"])]
        assert {"group": r.group, "version": r.version, "kind": r.kind} in gvks
        patch_ops = [op["patch"] for op in doc["paths"].values() if "patch" in op]
        assert all("requestBody" not in op for op in patch_ops)  # no SMP content type advertised
    assert openapi.V2_PROTO_STUB == b"\x0a\x032.0"
