"""Hypothesis strategies for Kubernetes-like input: valid-ish manifests with random mutations
(field names, types, values, unicode, huge numbers, deep nesting, wrong kinds), broken YAML text,
and HTTP request bodies with random content types.

Shared by ``test_fuzz_diff`` (manifests through the ``gitkube diff`` pipeline) and
``test_fuzz_api`` (bodies to the API server). ``settings()`` keeps CI small and deterministic:
``GITKUBE_FUZZ_EXAMPLES`` (default 150) raises the count, ``GITKUBE_FUZZ_SEED`` switches from the
derandomized run to a seeded random one.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

import yaml
from hypothesis import HealthCheck
from hypothesis import settings as hsettings
from hypothesis import strategies as st

__all__ = ["api_request", "file_set", "manifest", "seed", "settings"]


def settings() -> hsettings:
    return hsettings(
        max_examples=int(os.environ.get("GITKUBE_FUZZ_EXAMPLES", "150")),
        derandomize="GITKUBE_FUZZ_SEED" not in os.environ,
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                               HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def seed() -> int | None:
    text = os.environ.get("GITKUBE_FUZZ_SEED")
    return int(text) if text else None


CONTAINER = {"name": "app", "image": "python:3.11", "command": ["python", "-c", "pass"],
             "ports": [{"containerPort": 8080, "name": "http"}],
             "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
             "env": [{"name": "A", "value": "b"}]}
POD_TEMPLATE = {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [CONTAINER]}}
TEMPLATES: list[dict[str, Any]] = [
    {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"k": "v"}},
    {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "type": "Opaque", "stringData": {"k": "v"}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"},
     "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": "http", "protocol": "TCP"}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "dep", "labels": {"app": "x"}},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "x"}}, "template": POD_TEMPLATE,
              "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod"}, "spec": {"containers": [CONTAINER]}},
    {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "job"},
     "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [CONTAINER]}}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "ing"},
     "spec": {"rules": [{"host": "a.example", "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
         "service": {"name": "svc", "port": {"number": 80}}}}]}}]}},
    {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q"}, "spec": {"hard": {"pods": "10"}}},
    {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
     "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "dep"},
              "minReplicas": 1, "maxReplicas": 3}},
]
FIELD_NAMES = ["apiVersion", "kind", "metadata", "name", "namespace", "labels", "annotations", "spec", "data",
               "replicas", "selector", "matchLabels", "template", "containers", "image", "ports", "port",
               "targetPort", "containerPort", "resources", "limits", "requests", "cpu", "memory", "env", "value",
               "valueFrom", "status", "items", "type", "stringData", "binaryData", "finalizers", "ownerReferences",
               "generateName", "resourceVersion", "uid", "managedFields", "deletionTimestamp", "replicass", "$patch",
               "$setElementOrder/containers", "$retainKeys", "x-kubernetes-int-or-string", ""]

huge_ints = st.sampled_from([2**31, 2**53 + 1, 2**63, 2**64, 10**30, -(2**63) - 1, 10**400])
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), huge_ints,
    st.floats(allow_nan=False, allow_infinity=False), st.floats(),
    st.text(max_size=40), st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    st.sampled_from(["", "0", "1Gi", "100m", "-1", "1e400", "NaN", "yes", "no", "~", "null", "::", "a/b",
                     "ø", "\u202e", "\x00", "a" * 300, "web", "x.example", "Prefix", "TCP", "Always"]),
)
keys = st.one_of(st.sampled_from(FIELD_NAMES), st.text(max_size=15))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
                      max_leaves=15)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, prefix + (i,))
    return out


def _set(obj: Any, path: tuple[Any, ...], value: Any, op: str) -> Any:
    if not path:
        return value if op == "set" else obj
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if op == "set":
        parent[last] = value
    elif op == "delete":
        del parent[last]
    elif op == "rename" and isinstance(parent, dict) and isinstance(value, str):
        parent[value] = parent.pop(last)
    elif op == "wrap":
        parent[last] = [parent[last]] if isinstance(parent[last], dict) else {"x": parent[last]}
    return obj


@st.composite
def manifest(draw: st.DrawFn, kind: str | None = None, max_mutations: int = 4) -> Any:
    """A template object (of ``kind`` if given) with random mutations; sometimes a wholly random value."""
    if kind is None and draw(st.integers(0, 9)) == 0:
        return draw(values)
    choices = [t for t in TEMPLATES if kind is None or t["kind"] == kind] or TEMPLATES
    obj: Any = copy.deepcopy(draw(st.sampled_from(choices)))
    if kind is None:
        obj["metadata"]["name"] = draw(st.one_of(st.just(obj["metadata"]["name"]),
                                                 st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True),
                                                 st.text(max_size=70)))
    for _ in range(draw(st.integers(0, max_mutations))):
        paths = _paths(obj)
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["set", "set", "delete", "rename", "wrap"]))
        if not path and op != "set":
            continue
        try:
            obj = _set(obj, path, draw(values) if op == "set" else draw(keys), op)
        except (KeyError, IndexError, TypeError):
            continue
    if kind is None and draw(st.booleans()) and isinstance(obj, dict):
        obj["kind"] = draw(st.sampled_from(["Deployment", "Foo", "List", "", "configmap", "Namespace", "Node"]))
    return obj


def _dump(doc: Any) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, UnicodeEncodeError, ValueError, OverflowError):
        return json.dumps(doc, default=str)


BROKEN = [
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n\tname: tab\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dup}\nmetadata: {name: dup}\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n",
    "a: &x [*x]\n",
    "- - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - - x\n",
    "a: " + "[" * 5000 + "]" * 5000 + "\n",
    "a:\n" + "- " * 3000 + "x\n",
    "a: !!python/object:os.system ls\n",
    "a: !!binary not-base64\n",
    "? [complex, key]\n: value\n",
    "<<: *undefined\n",
    "%YAML 9.9\n---\na: 1\n",
    "\ufeffapiVersion: v1\nkind: ConfigMap\nmetadata: {name: bom}\n",
    "apiVersion: v1\nkind: List\nitems: [1, 2, {kind: Foo}]\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata: {n: 1e99999}\nspec: 123456789012345678901234567890\n",
    "---\n---\n...\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: " + "x" * 300 + "\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: date}\ndata: {d: 2024-01-01, t: 2001-12-14t21:59:43.10-05:00}\n",
    "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: keys}\ndata: {1: a, true: b, null: c, 1.5: d}\n",
]


@st.composite
def yaml_text(draw: st.DrawFn, clean: bool = False) -> str:
    """One file's text: dumped documents, sometimes cut short or spliced with broken YAML; with
    ``clean``, valid documents with at most one field set to a random scalar."""
    choice = draw(st.integers(4, 6)) if clean else draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.sampled_from(BROKEN))
    if choice == 1:
        return draw(st.text(max_size=200))
    if choice in (4, 5, 6):  # mostly valid: plans, dry runs and guard rails get to see them
        docs = []
        for _ in range(draw(st.integers(1, 3))):
            doc = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
            doc["metadata"]["namespace"] = "default"
            doc["metadata"]["name"] = draw(st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True))
            if draw(st.booleans()):
                path = draw(st.sampled_from(_paths(doc)[1:]))
                doc = _set(doc, path, draw(scalars), "set")
            docs.append(_dump(doc))
        return "---\n".join(docs)
    docs = [_dump(draw(manifest())) for _ in range(draw(st.integers(1, 3)))]
    text = "---\n".join(docs)
    if choice == 2 and text:
        text = text[: draw(st.integers(0, len(text)))]
    if choice == 3:
        text += draw(st.sampled_from(BROKEN))
    return text


@st.composite
def file_set(draw: st.DrawFn) -> dict[str, str]:
    """A repository's manifests: 1-4 files under random-ish names."""
    names = draw(st.lists(st.sampled_from(["a.yaml", "b.yml", "apps/c.yaml", "apps/d.yaml", "e.json",
                                           "x.sops.yaml", "kustomization.yaml"]),
                          min_size=1, max_size=4, unique=True))
    clean = draw(st.integers(0, 2)) == 0
    if clean:
        names = [n for n in names if n.endswith((".yaml", ".yml")) and ".sops." not in n
                 and not n.startswith("kustomization")] or ["a.yaml"]
    return {name: draw(yaml_text(clean)) for name in names}


CONTENT_TYPES = ["application/json", "application/yaml", "application/merge-patch+json",
                 "application/strategic-merge-patch+json", "application/json-patch+json",
                 "application/apply-patch+yaml", "application/vnd.kubernetes.protobuf", "text/plain", "",
                 "application/json; charset=utf-16", "*/*", "multipart/form-data"]
RESOURCES = [  # (collection, object name or name/subresource, kind of the matching template)
    ("/api/v1/namespaces/fuzz/configmaps", "cm", "ConfigMap"), ("/api/v1/namespaces/fuzz/secrets", "s", "Secret"),
    ("/api/v1/namespaces/fuzz/services", "svc", "Service"), ("/api/v1/namespaces/fuzz/pods", "pod", "Pod"),
    ("/apis/apps/v1/namespaces/fuzz/deployments", "dep", "Deployment"),
    ("/apis/batch/v1/namespaces/fuzz/jobs", "job", "Job"),
    ("/apis/networking.k8s.io/v1/namespaces/fuzz/ingresses", "ing", "Ingress"),
    ("/api/v1/namespaces/fuzz/resourcequotas", "q", "ResourceQuota"),
    ("/apis/autoscaling/v2/namespaces/fuzz/horizontalpodautoscalers", "h", "HorizontalPodAutoscaler"),
    ("/api/v1/namespaces", "fuzz-ns", "Namespace"), ("/api/v1/nodes", "fuzz-node", "Node"),
    ("/apis/apps/v1/namespaces/fuzz/deployments", "dep/scale", "Scale"),
    ("/apis/apps/v1/namespaces/fuzz/deployments", "dep/status", "Deployment"),
]
WRITE_TYPES = {"POST": ["application/json", "application/yaml"], "PUT": ["application/json", "application/yaml"],
               "PATCH": ["application/merge-patch+json", "application/strategic-merge-patch+json",
                         "application/json-patch+json", "application/apply-patch+yaml"], "DELETE": [""]}


@st.composite
def body(draw: st.DrawFn, content_type: str, kind: str) -> bytes:
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return draw(st.binary(max_size=200))
    if choice == 1:
        return draw(st.sampled_from(BROKEN)).encode("utf-8", "surrogatepass")
    if choice == 2 and content_type == "application/json-patch+json":
        ops = st.fixed_dictionaries({"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "x"]),
                                     "path": st.sampled_from(["/metadata/labels/a", "/spec", "/data/k", "", "/",
                                                              "/spec/replicas", "/metadata/name", "/a~1b/-"]),
                                     "value": values, "from": st.sampled_from(["/data", "/x"])})
        return json.dumps(draw(st.lists(ops, max_size=3)), default=str).encode()
    doc = draw(manifest(kind if choice >= 4 else None, max_mutations=2 if choice >= 4 else 4))
    if content_type.endswith("yaml") and draw(st.booleans()):
        return _dump(doc).encode("utf-8", "surrogatepass")
    try:
        return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    except (ValueError, OverflowError):
        return b"{}"


@st.composite
def api_request(draw: st.DrawFn) -> tuple[str, str, str, bytes]:
    """(method, path, content type, body) aimed at a resource collection or one of its objects."""
    collection, name, kind = draw(st.sampled_from(RESOURCES))
    method = draw(st.sampled_from(["POST", "POST", "PUT", "PATCH", "PATCH", "DELETE"]))
    path = collection if method == "POST" else f"{collection}/{name}"
    query = draw(st.sampled_from(["", "", "", "?fieldManager=fuzz", "?fieldManager=fuzz", "?fieldManager=fuzz&force=true",
                                  "?dryRun=All&fieldManager=fuzz", "?fieldValidation=Strict&fieldManager=fuzz",
                                  "?fieldManager=" + "x" * 200, "?dryRun=Nope", "?gracePeriodSeconds=-5",
                                  "?propagationPolicy=Bogus"]))
    content_type = draw(st.sampled_from(WRITE_TYPES[method]) | st.sampled_from(CONTENT_TYPES))
    return method, path + query, content_type, draw(body(content_type, kind))
