"""Node-placement predicates of the Kubernetes API, shared by every component that places pods.

Kubernetes keeps these in ``k8s.io/component-helpers`` (``scheduling/corev1``) so that the
scheduler and the DaemonSet controller agree on which node a pod may run; gitkube does the same
here, because the scheduler and the controllers may not import each other (layering rule R2):

- :func:`tolerates` - ``Toleration.ToleratesTaint``: an empty effect matches every effect, an
  empty key with ``Exists`` every key, ``Equal`` (the default operator) compares values;
- :func:`find_untolerated_taint` - the first taint of the given effects no toleration tolerates;
- :func:`match_requirement` - one NodeSelectorRequirement (In, NotIn, Exists, DoesNotExist, Gt,
  Lt) against labels or fields;
- :func:`match_term` - a NodeSelectorTerm: its ``matchExpressions`` over labels and
  ``matchFields`` over ``metadata.name`` ANDed; a term with neither matches nothing;
- :func:`matches_node_affinity` - ``GetRequiredNodeAffinity(pod).Match(node)``: nodeSelector
  and required node affinity of a pod spec against a Node object.

Pure; used by ``gitkube.scheduler.plugins`` and ``gitkube.controllers.daemonset``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["find_untolerated_taint", "match_requirement", "match_term", "matches_node_affinity", "tolerates"]

FILTER_EFFECTS = ("NoSchedule", "NoExecute")


def tolerates(toleration: Mapping[str, Any], taint: Mapping[str, Any]) -> bool:
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    if operator == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def find_untolerated_taint(taints: Iterable[Mapping[str, Any]], tolerations: Iterable[Mapping[str, Any]],
                           effects: tuple[str, ...] = FILTER_EFFECTS) -> Mapping[str, Any] | None:
    tols = tuple(tolerations)
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tols):
            return taint
    return None


def _int(text: str) -> int | None:
    try:
        return int(text)
    except (TypeError, ValueError):
        return None


def match_requirement(req: Mapping[str, Any], values_of: Mapping[str, str]) -> bool:
    key = str(req.get("key", ""))
    op = req.get("operator")
    values = [str(v) for v in req.get("values") or []]
    present = key in values_of
    value = values_of.get(key, "")
    if op == "In":
        return present and value in values
    if op == "NotIn":
        return not present or value not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        have, want = _int(value), _int(values[0]) if len(values) == 1 else None
        if not present or have is None or want is None:
            return False
        return have > want if op == "Gt" else have < want
    return False


def match_term(term: Mapping[str, Any], node_name: str, node_labels: Mapping[str, str]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False
    if not all(match_requirement(r, node_labels) for r in exprs):
        return False
    by_field = {"metadata.name": node_name}
    return all(r.get("key") == "metadata.name" and match_requirement(r, by_field) for r in fields)


def matches_node_affinity(pod_spec: Mapping[str, Any], node: Mapping[str, Any]) -> bool:
    node_meta = node.get("metadata") or {}
    node_labels = {str(k): str(v) for k, v in (node_meta.get("labels") or {}).items()}
    for k, v in (pod_spec.get("nodeSelector") or {}).items():
        if node_labels.get(k) != v:
            return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    name = str(node_meta.get("name") or "")
    return any(match_term(t, name, node_labels) for t in required.get("nodeSelectorTerms") or [])
