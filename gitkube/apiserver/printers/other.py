"""Printers for the remaining served kinds, and the fallback for kinds without one.

Ported from Kubernetes 1.32 ``printers.go``:

- Ingress (networking.k8s.io/v1): NAME CLASS HOSTS ADDRESS PORTS AGE.
- HorizontalPodAutoscaler (autoscaling/v2): NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE,
  TARGETS as ``formatHPAMetrics`` (``cpu: 45%/80%``, ``<unknown>`` before metrics arrive, at
  most two then ``+ N more...``). An HPA without metrics or minReplicas prints its v2
  defaults (CPU at 80% utilisation, 1).
- Lease (coordination.k8s.io/v1): NAME HOLDER AGE.
- ValidatingAdmissionPolicy: NAME VALIDATIONS PARAMKIND AGE.
- ValidatingAdmissionPolicyBinding: NAME POLICYNAME PARAMREF AGE.

``FALLBACK`` is what a CustomResourceDefinition without printer columns gets: NAME and an
``Age`` column of type ``date``, which kubectl shows as NAME AGE.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitkube.apiserver.printers.base import AGE, NAME, Cell, Column, Printer, describe
from gitkube.apiserver.printers.format import quantity_string, translate_timestamp_since

__all__ = [
    "FALLBACK",
    "HPA",
    "INGRESS",
    "LEASE",
    "VALIDATING_ADMISSION_POLICY",
    "VALIDATING_ADMISSION_POLICY_BINDING",
    "go_label_selector_repr",
]


def _name_age(obj: Mapping[str, Any], now: datetime) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("name") or ""), translate_timestamp_since(meta.get("creationTimestamp"), now)


# --- Ingress ---------------------------------------------------------------------------------


def _hosts(rules: list[Mapping[str, Any]]) -> str:
    """``formatHosts``: up to three hosts, ``*`` when no rule names one."""
    shown: list[str] = []
    limit = 3
    more = False
    for rule in rules:
        if len(shown) == limit:
            more = True
        if not more and rule.get("host"):
            shown.append(str(rule["host"]))
    if not shown:
        return "*"
    text = ",".join(shown)
    return f"{text} + {len(rules) - limit} more..." if more else text


def _ingress(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    found: set[str] = set()
    for point in ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        if point.get("ip"):
            found.add(str(point["ip"]))
        elif point.get("hostname"):
            found.add(str(point["hostname"]))
    class_name = spec.get("ingressClassName")
    return [
        name,
        "<none>" if class_name is None else str(class_name),
        _hosts(spec.get("rules") or []),
        ",".join(sorted(found)),
        "80, 443" if spec.get("tls") else "80",
        age,
    ]


INGRESS = Printer(
    columns=(
        NAME,
        Column(
            "Class",
            description="The name of the IngressClass resource that should be used for additional configuration",
        ),
        Column(
            "Hosts", description="Hosts that incoming requests are matched against before the ingress rule"
        ),
        Column("Address", description="Address is a list containing ingress points for the load-balancer"),
        Column("Ports", description="Ports of TLS configurations that open"),
        AGE,
    ),
    row=_ingress,
)


# --- HorizontalPodAutoscaler -------------------------------------------------------------------

_DEFAULT_METRICS: list[Mapping[str, Any]] = [
    {
        "type": "Resource",
        "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}},
    }
]


def _qty(value: Any) -> str:
    """``Quantity.String()``, which prints ``<nil>`` for a nil pointer."""
    return "<nil>" if value is None else quantity_string(value)


def _current(status: Mapping[str, Any] | None, source: str) -> Mapping[str, Any] | None:
    """The ``current`` block of the matching status entry, or None when metrics are not in yet."""
    if status is None or status.get(source) is None:
        return None
    return status[source].get("current") or {}


def _value_metric(spec: Mapping[str, Any], status: Mapping[str, Any] | None, source: str) -> str:
    """External and Object metrics: ``current/target``, with ``(avg)`` for average-value targets."""
    target = (spec.get(source) or {}).get("target") or {}
    current = _current(status, source)
    if target.get("averageValue") is not None:
        shown = "<unknown>"
        if current is not None and current.get("averageValue") is not None:
            shown = _qty(current["averageValue"])
        return f"{shown}/{_qty(target['averageValue'])} (avg)"
    shown = "<unknown>" if current is None else _qty(current.get("value"))
    return f"{shown}/{_qty(target.get('value'))}"


def _resource_metric(spec: Mapping[str, Any], status: Mapping[str, Any] | None, source: str) -> str:
    """Resource and ContainerResource metrics: ``name: current/target``."""
    block = spec.get(source) or {}
    target = block.get("target") or {}
    current = _current(status, source)
    if target.get("averageValue") is not None:
        shown = "<unknown>" if current is None else _qty(current.get("averageValue"))
        return f"{block.get('name', '')}: {shown}/{_qty(target['averageValue'])}"
    shown = "<unknown>"
    if current is not None and current.get("averageUtilization") is not None:
        shown = f"{int(current['averageUtilization'])}%"
    wanted = "<auto>"
    if target.get("averageUtilization") is not None:
        wanted = f"{int(target['averageUtilization'])}%"
    return f"{block.get('name', '')}: {shown}/{wanted}"


def _hpa_metrics(specs: list[Mapping[str, Any]], statuses: list[Mapping[str, Any]]) -> str:
    """``formatHPAMetrics``."""
    if not specs:
        return "<none>"
    shown: list[str] = []
    for index, spec in enumerate(specs):
        status = statuses[index] if len(statuses) > index else None
        kind = spec.get("type")
        if kind == "External":
            shown.append(_value_metric(spec, status, "external"))
        elif kind == "Object":
            shown.append(_value_metric(spec, status, "object"))
        elif kind == "Pods":
            current = _current(status, "pods")
            value = "<unknown>" if current is None else _qty(current.get("averageValue"))
            target = ((spec.get("pods") or {}).get("target") or {}).get("averageValue")
            shown.append(f"{value}/{_qty(target)}")
        elif kind == "Resource":
            shown.append(_resource_metric(spec, status, "resource"))
        elif kind == "ContainerResource":
            shown.append(_resource_metric(spec, status, "containerResource"))
        else:
            shown.append("<unknown type>")
    limit = 2
    if len(shown) > limit:
        return f"{', '.join(shown[:limit])} + {len(shown) - limit} more..."
    return ", ".join(shown)


def _hpa(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ref = spec.get("scaleTargetRef") or {}
    min_replicas = spec.get("minReplicas")
    return [
        name,
        f"{ref.get('kind', '')}/{ref.get('name', '')}",
        _hpa_metrics(spec.get("metrics") or _DEFAULT_METRICS, status.get("currentMetrics") or []),
        "1" if min_replicas is None else str(int(min_replicas)),
        int(spec.get("maxReplicas") or 0),
        int(status.get("currentReplicas") or 0),
        age,
    ]


HPA = Printer(
    columns=(
        NAME,
        Column("Reference", description=describe("HPASpec.scaleTargetRef")),
        Column("Targets", description=describe("HPASpec.metrics")),
        Column("MinPods", description=describe("HPASpec.minReplicas")),
        Column("MaxPods", description=describe("HPASpec.maxReplicas")),
        Column("Replicas", description=describe("HPAStatus.currentReplicas")),
        AGE,
    ),
    row=_hpa,
)


# --- Lease -----------------------------------------------------------------------------------


def _lease(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    return [name, str((obj.get("spec") or {}).get("holderIdentity") or ""), age]


LEASE = Printer(
    columns=(NAME, Column("Holder", description=describe("LeaseSpec.holderIdentity")), AGE),
    row=_lease,
)


# --- ValidatingAdmissionPolicy and its binding ------------------------------------------------------


def _vap(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    param_kind = spec.get("paramKind")
    shown = "<unset>"
    if param_kind is not None:
        shown = f"{param_kind.get('apiVersion', '')}/{param_kind.get('kind', '')}"
    return [name, len(spec.get("validations") or []), shown, age]


VALIDATING_ADMISSION_POLICY = Printer(
    columns=(
        NAME,
        Column(
            "Validations",
            type="integer",
            description="Validations indicates the number of validation rules defined in this configuration",
        ),
        Column(
            "ParamKind",
            description="ParamKind specifies the kind of resources used to parameterize this policy",
        ),
        AGE,
    ),
    row=_vap,
)


def _go_slice(values: list[Any] | None) -> str:
    """``fmt.Sprintf("%v", []string{...})``."""
    return "[" + " ".join(str(v) for v in values or []) + "]"


def go_label_selector_repr(selector: Mapping[str, Any]) -> str:
    """The gogo-protobuf ``(*metav1.LabelSelector).String()`` that ``printValidatingAdmissionPolicyBinding`` prints."""
    labels: Mapping[str, Any] = selector.get("matchLabels") or {}
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    expressions = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:{_go_slice(e.get('values'))},}},"
        for e in selector.get("matchExpressions") or []
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{expressions}}},}}"
    )


def _vap_binding(obj: Mapping[str, Any], now: datetime) -> list[Cell]:
    name, age = _name_age(obj, now)
    spec = obj.get("spec") or {}
    param = "<unset>"
    ref = spec.get("paramRef")
    if ref is not None:
        if ref.get("name"):
            # Whether the param is cluster-scoped is unknown here, so a ref without namespace shows "*".
            param = f"{ref.get('namespace') or '*'}/{ref['name']}"
        elif ref.get("selector") is not None:
            param = go_label_selector_repr(ref["selector"])
    return [name, str(spec.get("policyName") or ""), param, age]


VALIDATING_ADMISSION_POLICY_BINDING = Printer(
    columns=(
        NAME,
        Column(
            "PolicyName",
            description="PolicyName indicates the policy definition which the policy binding binded to",
        ),
        Column(
            "ParamRef", description="ParamRef indicates the param resource which sets the configration param"
        ),
        AGE,
    ),
    row=_vap_binding,
)


# --- Fallback --------------------------------------------------------------------------------

FALLBACK = Printer(
    columns=(NAME, Column("Age", type="date", description=describe("ObjectMeta.creationTimestamp"))),
    row=lambda obj, now: list(_name_age(obj, now)),
)
