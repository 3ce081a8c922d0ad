"""ResourceQuota accounting and LimitRange rules, pure: what an object counts against a quota,
whether a request fits, and what a LimitRange adds to or refuses in a Pod.

After kube-apiserver's quota evaluators (``pkg/quota/v1/evaluator/core``) and the
LimitRanger admission plugin (``plugin/pkg/admission/limitranger``):

- :func:`usage_of` — what one object counts: a Pod ``pods``, ``count/pods``, ``cpu`` /
  ``requests.cpu``, ``memory`` / ``requests.memory``, ``limits.*`` (terminal pods count only
  ``count/pods``); a Service ``services``, ``services.nodeports``, ``services.loadbalancers``;
  a PVC ``persistentvolumeclaims``, ``requests.storage``; ConfigMaps, Secrets and every other
  kind ``count/<resource>.<group>`` (plus the legacy bare names).
- :func:`check` — the ``exceeded quota: NAME, requested: ..., used: ..., limited: ...`` message.
- :func:`missing_constraints` — ``must specify limits.cpu for: c1`` when a quota constrains
  cpu/memory a container does not set; :func:`matches_scopes` — quota scopes.
- :func:`calculate_used` — a quota's ``status.used`` from the live objects.
- :func:`apply_limit_range_defaults` and :func:`limit_range_violations` — LimitRanger;
  :func:`pvc_limit_range_violations` — its ``PersistentVolumeClaim`` items (min/max ``storage``).

Called by the API server's quota admission, the quota controller and the GitOps pre-flight.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from gitkube.api import scheme
from gitkube.api.quantity import Quantity, parse_quantity

__all__ = [
    "LIMIT_RANGER_ANNOTATION",
    "Usage",
    "add_usage",
    "apply_limit_range_defaults",
    "calculate_used",
    "check",
    "format_used",
    "limit_range_violations",
    "matches_scopes",
    "missing_constraints",
    "parse_resource_list",
    "tracked_resources",
    "pod_limits",
    "pod_requests",
    "pvc_limit_range_violations",
    "usage_of",
]

Usage = dict[str, Quantity | int]
LIMIT_RANGER_ANNOTATION = "kubernetes.io/limit-ranger"
_TERMINAL = ("Succeeded", "Failed")
_CONSTRAINED = frozenset({"cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"})
# kinds whose object count also has a bare quota name (``configmaps`` as well as ``count/configmaps``)
_LEGACY_COUNTS = frozenset({"configmaps", "secrets", "replicationcontrollers", "resourcequotas"})


def _q(value: Any) -> Quantity:
    if isinstance(value, Quantity):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Quantity(value)
    return parse_quantity(value)


def parse_resource_list(resources: Any) -> dict[str, Quantity]:
    """``{"cpu": "500m"}`` → quantities; raises :class:`QuantityError` on a bad value."""
    if not isinstance(resources, Mapping):
        return {}
    return {str(k): _q(v) for k, v in resources.items() if v is not None}


def _dict(obj: Any, key: str) -> dict[str, Any]:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, dict) else {}


def _list(obj: Any, key: str) -> list[Any]:
    value = obj.get(key) if isinstance(obj, Mapping) else None
    return value if isinstance(value, list) else []


def _add(into: dict[str, Quantity], resources: Mapping[str, Quantity]) -> None:
    for k, v in resources.items():
        into[k] = into[k] + v if k in into else v


def _max(into: dict[str, Quantity], resources: Mapping[str, Quantity]) -> None:
    for k, v in resources.items():
        if k not in into or v > into[k]:
            into[k] = v


def _pod_resources(spec: Any, field: str) -> dict[str, Quantity]:
    """``resourcehelper.PodRequests``/``PodLimits``: the containers' sum (restartable init
    containers included), at least each regular init container plus the sidecars before it,
    plus the pod overhead."""
    total: dict[str, Quantity] = {}
    for c in _list(spec, "containers"):
        _add(total, parse_resource_list(_dict(_dict(c, "resources"), field)))
    sidecars: dict[str, Quantity] = {}
    init_peak: dict[str, Quantity] = {}
    for c in _list(spec, "initContainers"):
        res = parse_resource_list(_dict(_dict(c, "resources"), field))
        if isinstance(c, Mapping) and c.get("restartPolicy") == "Always":
            _add(sidecars, res)
            _add(total, res)
            _max(init_peak, sidecars)
        else:
            step = dict(sidecars)
            _add(step, res)
            _max(init_peak, step)
    _max(total, init_peak)
    _add(total, parse_resource_list(_dict(spec, "overhead")))
    return total


def pod_requests(pod: Mapping[str, Any]) -> dict[str, Quantity]:
    return _pod_resources(_dict(pod, "spec"), "requests")


def pod_limits(pod: Mapping[str, Any]) -> dict[str, Quantity]:
    return _pod_resources(_dict(pod, "spec"), "limits")


def _compute_usage(requests: Mapping[str, Quantity], limits: Mapping[str, Quantity]) -> Usage:
    """``podComputeUsageHelper``."""
    out: Usage = {"pods": 1}
    for name in ("cpu", "memory", "ephemeral-storage"):
        if name in requests:
            out[name] = requests[name]
            out[f"requests.{name}"] = requests[name]
        if name in limits:
            out[f"limits.{name}"] = limits[name]
    for name, value in requests.items():
        if name.startswith("hugepages-"):
            out[name] = value
            out[f"requests.{name}"] = value
        elif "/" in name and not name.startswith("kubernetes.io/"):
            out[f"requests.{name}"] = value  # extended resources
    return out


def _count_name(api_version: str, kind: str) -> str | None:
    info = scheme.by_kind(api_version, kind)
    if info is None:
        return None
    return f"count/{info.plural}.{info.group}" if info.group else f"count/{info.plural}"


def usage_of(obj: Mapping[str, Any]) -> Usage:
    """What ``obj`` counts against a quota in its namespace (object counts as ints)."""
    api_version, kind = str(obj.get("apiVersion") or ""), str(obj.get("kind") or "")
    out: Usage = {}
    count = _count_name(api_version, kind)
    if count is not None:
        out[count] = 1
    if api_version != "v1":
        return out
    spec = _dict(obj, "spec")
    if kind == "Pod":
        if str(_dict(obj, "status").get("phase") or "") in _TERMINAL:
            return out
        out.update(_compute_usage(pod_requests(obj), pod_limits(obj)))
    elif kind == "Service":
        out["services"] = 1
        ports = _list(spec, "ports")
        if spec.get("type") == "NodePort":
            out["services.nodeports"] = len(ports)
        elif spec.get("type") == "LoadBalancer":
            out["services.loadbalancers"] = 1
            if spec.get("allocateLoadBalancerNodePorts") is False:
                out["services.nodeports"] = sum(1 for p in ports if isinstance(p, Mapping) and p.get("nodePort"))
            else:
                out["services.nodeports"] = len(ports)
    elif kind == "PersistentVolumeClaim":
        out["persistentvolumeclaims"] = 1
        requests = parse_resource_list(_dict(_dict(spec, "resources"), "requests"))
        _max(requests, {k: v for k, v in parse_resource_list(_dict(_dict(obj, "status"), "allocatedResources")).items()
                        if k == "storage"})
        storage_class = spec.get("storageClassName")
        if storage_class:
            out[f"{storage_class}.storageclass.storage.k8s.io/persistentvolumeclaims"] = 1
        if "storage" in requests:
            out["requests.storage"] = requests["storage"]
            if storage_class:
                out[f"{storage_class}.storageclass.storage.k8s.io/requests.storage"] = requests["storage"]
    elif count is not None and count.removeprefix("count/") in _LEGACY_COUNTS:
        out[count.removeprefix("count/")] = 1
    return out


def add_usage(a: Mapping[str, Quantity | int], b: Mapping[str, Quantity | int]) -> dict[str, Quantity]:
    """The sum of two usages, as quantities."""
    out = {k: _q(v) for k, v in a.items()}
    _add(out, {k: _q(v) for k, v in b.items()})
    return out


def format_used(used: Mapping[str, Quantity | int], hard: Iterable[str]) -> dict[str, str]:
    """``status.used`` text for the resources of ``hard`` (missing ones are ``0``)."""
    return {name: str(_q(used.get(name, 0))) for name in sorted(hard)}


def _pretty(values: Mapping[str, Quantity], names: Iterable[str]) -> str:
    return ",".join(f"{n}={values.get(n, Quantity(0))}" for n in sorted(names))


def check(quota_hard: Mapping[str, Any], used: Mapping[str, Any], requested: Mapping[str, Any], *,
          name: str = "") -> list[str]:
    """The violation (at most one message, as Kubernetes reports every exceeded resource of a
    quota together) of adding ``requested`` to ``used`` under ``quota_hard``; ``name`` is the
    quota's name. Only resources the quota constrains count. Raises QuantityError."""
    hard = parse_resource_list(quota_hard)
    current = parse_resource_list(used)
    wanted = {k: _q(v) for k, v in requested.items() if k in hard}
    exceeded = [k for k, v in wanted.items() if current.get(k, Quantity(0)) + v > hard[k]]
    if not exceeded:
        return []
    return [f"exceeded quota: {name}, requested: {_pretty(wanted, exceeded)}, "
            f"used: {_pretty(current, exceeded)}, limited: {_pretty(hard, exceeded)}"]


def missing_constraints(quota_hard: Iterable[str], pod: Mapping[str, Any]) -> str:
    """``must specify limits.cpu for: c1`` (empty when satisfied): a quota constraining cpu or
    memory needs every container to state it (``podEvaluator.Constraints``)."""
    required = set(quota_hard) & _CONSTRAINED
    if not required or pod.get("kind") != "Pod":
        return ""
    missing: dict[str, set[str]] = {}
    spec = _dict(pod, "spec")
    for c in _list(spec, "containers") + _list(spec, "initContainers"):
        res = _dict(c, "resources")
        have = set(_compute_usage(parse_resource_list(_dict(res, "requests")), parse_resource_list(_dict(res, "limits"))))
        for name in required - have:
            missing.setdefault(name, set()).add(str(c.get("name") or "") if isinstance(c, Mapping) else "")
    if not missing:
        return ""
    return "must specify " + "; ".join(f"{r} for: {','.join(sorted(missing[r]))}" for r in sorted(missing))


def _qos(spec: Mapping[str, Any]) -> str:
    requests: dict[str, Quantity] = {}
    limits: dict[str, Quantity] = {}
    guaranteed = True
    for c in _list(spec, "containers") + _list(spec, "initContainers"):
        res = _dict(c, "resources")
        req = {k: v for k, v in parse_resource_list(_dict(res, "requests")).items() if k in ("cpu", "memory") and v.sign() > 0}
        lim = {k: v for k, v in parse_resource_list(_dict(res, "limits")).items() if k in ("cpu", "memory") and v.sign() > 0}
        _add(requests, req)
        _add(limits, lim)
        guaranteed = guaranteed and set(lim) == {"cpu", "memory"}
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and requests == limits else "Burstable"


def _scope_matches(scope: str, operator: str, values: list[Any], pod: Mapping[str, Any]) -> bool:
    spec = _dict(pod, "spec")
    if scope == "Terminating":
        return spec.get("activeDeadlineSeconds") is not None
    if scope == "NotTerminating":
        return spec.get("activeDeadlineSeconds") is None
    if scope == "BestEffort":
        return _qos(spec) == "BestEffort"
    if scope == "NotBestEffort":
        return _qos(spec) != "BestEffort"
    if scope == "PriorityClass":
        pc = str(spec.get("priorityClassName") or "")
        return {"In": pc in values, "NotIn": pc not in values, "Exists": bool(pc),
                "DoesNotExist": not pc}.get(operator, False)
    if scope == "CrossNamespacePodAffinity":
        affinity = _dict(spec, "affinity")
        terms = [t for kind in ("podAffinity", "podAntiAffinity") for key in
                 ("requiredDuringSchedulingIgnoredDuringExecution", "preferredDuringSchedulingIgnoredDuringExecution")
                 for t in _list(_dict(affinity, kind), key)]
        return any(_dict(t, "podAffinityTerm").get("namespaceSelector") is not None
                   or _list(_dict(t, "podAffinityTerm") or t, "namespaces") or t.get("namespaceSelector") is not None
                   for t in terms if isinstance(t, Mapping))
    return False


def matches_scopes(quota: Mapping[str, Any], obj: Mapping[str, Any]) -> bool:
    """Whether ``obj`` falls under the quota's ``scopes`` and ``scopeSelector`` (scoped quotas
    track pods only)."""
    spec = _dict(quota, "spec")
    terms: list[tuple[str, str, list[Any]]] = [(str(s), "Exists", []) for s in _list(spec, "scopes")]
    terms += [(str(e.get("scopeName") or ""), str(e.get("operator") or ""), _list(e, "values"))
              for e in _list(_dict(spec, "scopeSelector"), "matchExpressions") if isinstance(e, Mapping)]
    if not terms:
        return True
    if obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
        return False
    return all(_scope_matches(s, op, values, obj) for s, op, values in terms)


def tracked_resources(hard: Iterable[str]) -> set[tuple[str, str]]:
    """The (group, plural) lists whose objects count towards the resources of ``hard``."""
    out: set[tuple[str, str]] = set()
    for name in hard:
        if name.startswith("count/"):
            plural, _, group = name.removeprefix("count/").partition(".")
            if scheme.by_plural(group, plural) is not None:
                out.add((group, plural))
        elif name.startswith("services"):
            out.add(("", "services"))
        elif name in ("persistentvolumeclaims", "requests.storage") or ".storageclass.storage.k8s.io/" in name:
            out.add(("", "persistentvolumeclaims"))
        elif name in _LEGACY_COUNTS:
            out.add(("", name))
        else:
            out.add(("", "pods"))
    return out


def calculate_used(quota: Mapping[str, Any], objects: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """A quota's ``status.used``: the usage of ``objects`` (its namespace's live objects of the
    kinds it constrains) for every resource of ``spec.hard``."""
    hard = list(_dict(_dict(quota, "spec"), "hard"))
    total: dict[str, Quantity] = {}
    for obj in objects:
        if matches_scopes(quota, obj):
            _add(total, {k: _q(v) for k, v in usage_of(obj).items() if k in hard})
    return format_used(total, hard)


# -- LimitRange ---------------------------------------------------------------------------


def _items(limit_range: Mapping[str, Any], kind: str) -> list[dict[str, Any]]:
    return [i for i in _list(_dict(limit_range, "spec"), "limits") if isinstance(i, dict) and i.get("type") == kind]


def apply_limit_range_defaults(pod: dict[str, Any], limit_ranges: Iterable[Mapping[str, Any]]) -> str:
    """Give each container the ``defaultRequest``/``default`` it lacks from the namespace's
    LimitRanges (in order; the first to set a value wins) and set the
    ``kubernetes.io/limit-ranger`` annotation; returns the annotation ("" when nothing set)."""
    spec = _dict(pod, "spec")
    notes: list[str] = []
    for lr in limit_ranges:
        default_limits: dict[str, Any] = {}
        default_requests: dict[str, Any] = {}
        for item in _items(lr, "Container"):
            default_limits.update(_dict(item, "default"))
            default_requests.update(_dict(item, "defaultRequest"))
        if not default_limits and not default_requests:
            continue
        for prefix, field in (("container", "containers"), ("init container", "initContainers")):
            for c in _list(spec, field):
                if not isinstance(c, dict):
                    continue
                res = c.setdefault("resources", {})
                for kind, defaults in (("request", default_requests), ("limit", default_limits)):
                    target = res.setdefault("requests" if kind == "request" else "limits", {})
                    if kind == "request":  # SetDefaults_Pod: a request defaults to its limit first
                        for k, v in _dict(res, "limits").items():
                            target.setdefault(k, v)
                    added = sorted(k for k in defaults if k not in target)
                    for k in added:
                        target[k] = defaults[k]
                    if added:
                        notes.append(f"{', '.join(added)} {kind} for {prefix} {c.get('name', '')}")
                    if not target:
                        res.pop("requests" if kind == "request" else "limits")
    if not notes:
        return ""
    note = "LimitRanger plugin set: " + "; ".join(notes)
    pod.setdefault("metadata", {}).setdefault("annotations", {})[LIMIT_RANGER_ANNOTATION] = note
    return note


def _min(kind: str, name: str, enforced: Quantity, req: Mapping[str, Quantity], lim: Mapping[str, Quantity]) -> str:
    if name not in req:
        return f"minimum {name} usage per {kind} is {enforced}.  No request is specified"
    if req[name] < enforced:
        return f"minimum {name} usage per {kind} is {enforced}, but request is {req[name]}"
    if name in lim and lim[name] < enforced:
        return f"minimum {name} usage per {kind} is {enforced}, but limit is {lim[name]}"
    return ""


def _max_c(kind: str, name: str, enforced: Quantity, req: Mapping[str, Quantity], lim: Mapping[str, Quantity]) -> str:
    if name not in lim:
        return f"maximum {name} usage per {kind} is {enforced}.  No limit is specified"
    if lim[name] > enforced:
        return f"maximum {name} usage per {kind} is {enforced}, but limit is {lim[name]}"
    if name in req and req[name] > enforced:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req[name]}"
    return ""


def _ratio(kind: str, name: str, enforced: Quantity, req: Mapping[str, Quantity], lim: Mapping[str, Quantity]) -> str:
    if name not in req or req[name].is_zero():
        return f"{name} max limit to request ratio per {kind} is {enforced}, but no request is specified or request is 0"
    if name not in lim or lim[name].is_zero():
        return f"{name} max limit to request ratio per {kind} is {enforced}, but no limit is specified or limit is 0"
    observed = lim[name].value / req[name].value
    if observed > enforced.value:
        return f"{name} max limit to request ratio per {kind} is {enforced}, but provided ratio is {float(observed):f}"
    return ""


def _validate_item(kind: str, item: Mapping[str, Any], req: Mapping[str, Quantity], lim: Mapping[str, Quantity]) -> list[str]:
    out: list[str] = []
    for field, rule in (("min", _min), ("max", _max_c), ("maxLimitRequestRatio", _ratio)):
        for name, enforced in sorted(parse_resource_list(_dict(item, field)).items()):
            message = rule(kind, name, enforced, req, lim)
            if message:
                out.append(message)
    return out


def limit_range_violations(pod: Mapping[str, Any], limit_range: Mapping[str, Any]) -> list[str]:
    """Every min/max/maxLimitRequestRatio rule of one LimitRange the pod breaks (Kubernetes'
    messages, e.g. ``maximum cpu usage per Container is 1, but limit is 2``)."""
    out: list[str] = []
    spec = _dict(pod, "spec")
    for item in _items(limit_range, "Container"):
        for c in _list(spec, "containers") + _list(spec, "initContainers"):
            res = _dict(c, "resources")
            out += _validate_item("Container", item, parse_resource_list(_dict(res, "requests")),
                                  parse_resource_list(_dict(res, "limits")))
    for item in _items(limit_range, "Pod"):
        req: dict[str, Quantity] = {}
        lim: dict[str, Quantity] = {}
        for field, into in (("requests", req), ("limits", lim)):
            for c in _list(spec, "containers"):
                _add(into, parse_resource_list(_dict(_dict(c, "resources"), field)))
            for c in _list(spec, "initContainers"):
                _max(into, parse_resource_list(_dict(_dict(c, "resources"), field)))
        out += _validate_item("Pod", item, req, lim)
    return out


def _max_request(kind: str, name: str, enforced: Quantity, req: Mapping[str, Quantity]) -> str:
    """LimitRanger's ``maxRequestConstraint``: the max of a kind that has no limits (PVCs)."""
    if name not in req:
        return f"maximum {name} usage per {kind} is {enforced}.  No request is specified"
    if req[name] > enforced:
        return f"maximum {name} usage per {kind} is {enforced}, but request is {req[name]}"
    return ""


def pvc_limit_range_violations(pvc: Mapping[str, Any], limit_range: Mapping[str, Any]) -> list[str]:
    """Every ``PersistentVolumeClaim`` min/max rule of one LimitRange the claim breaks, checked
    against ``spec.resources.requests`` only (Kubernetes ignores a PVC's limits here), e.g.
    ``minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi``."""
    kind = "PersistentVolumeClaim"
    req = parse_resource_list(_dict(_dict(_dict(pvc, "spec"), "resources"), "requests"))
    out: list[str] = []
    for item in _items(limit_range, kind):
        for name, enforced in sorted(parse_resource_list(_dict(item, "min")).items()):
            message = _min(kind, name, enforced, req, {})
            if message:
                out.append(message)
        for name, enforced in sorted(parse_resource_list(_dict(item, "max")).items()):
            message = _max_request(kind, name, enforced, req)
            if message:
                out.append(message)
    return out
