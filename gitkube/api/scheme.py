"""The kind registry: every resource the built-in control plane serves.

One :class:`ResourceInfo` per resource says its group, version, kind, plural, whether it is
namespaced, its short names, categories and subresources. Discovery, OpenAPI, URL routing,
the store's key layout and the object validators all read this table; nothing else hard-codes
a plural or a scope. Pure data: no I/O.

Callers: ``apiserver`` (routing, discovery, OpenAPI), ``store`` key helpers, and later the
GitOps engine to map manifests to resources.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "ALL_RESOURCES",
    "METRICS_GROUP",
    "METRICS_RESOURCES",
    "ResourceInfo",
    "SERVED_RESOURCES",
    "Subresource",
    "by_group_kind",
    "by_gvk",
    "by_kind",
    "by_plural",
    "group_versions",
    "resolve",
    "storage_key",
    "storage_prefix",
]

READ_WRITE = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Subresource:
    """A subresource such as ``status`` or ``scale``, with the kind its body carries."""

    name: str
    kind: str
    group: str
    version: str
    verbs: tuple[str, ...]


@dataclass(frozen=True)
class ResourceInfo:
    """Everything the API server needs to know about one served resource."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[Subresource, ...] = ()
    verbs: tuple[str, ...] = READ_WRITE
    # Top-level fields other than metadata that count as "spec" for generation bumps.
    # Kinds with no spec (ConfigMap, Secret...) never bump generation past 1.
    spec_fields: tuple[str, ...] = ("spec",)
    list_kind: str = field(default="")

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """``deployments.apps`` style name used in error messages."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    @property
    def kind_list(self) -> str:
        return self.list_kind or f"{self.kind}List"

    def subresource(self, name: str) -> Subresource | None:
        return next((s for s in self.subresources if s.name == name), None)

    @property
    def has_status(self) -> bool:
        return self.subresource("status") is not None


def _status(group: str, version: str, kind: str) -> Subresource:
    return Subresource("status", kind, group, version, ("get", "patch", "update"))


def _scale(group: str, version: str) -> Subresource:
    return Subresource("scale", "Scale", "autoscaling", "v1", ("get", "patch", "update"))


def _res(
    group: str,
    version: str,
    kind: str,
    plural: str,
    namespaced: bool = True,
    short: tuple[str, ...] = (),
    cats: tuple[str, ...] = (),
    status: bool = True,
    scale: bool = False,
    extra: tuple[Subresource, ...] = (),
    spec_fields: tuple[str, ...] = ("spec",),
) -> ResourceInfo:
    subs: list[Subresource] = []
    if status:
        subs.append(_status(group, version, kind))
    if scale:
        subs.append(_scale(group, version))
    subs.extend(extra)
    return ResourceInfo(
        group=group,
        version=version,
        kind=kind,
        plural=plural,
        namespaced=namespaced,
        short_names=short,
        categories=cats,
        subresources=tuple(subs),
        spec_fields=spec_fields,
    )


_ALL = ("all",)
_POD_EXTRA = (
    Subresource("binding", "Binding", "", "v1", ("create",)),
    Subresource("log", "Pod", "", "v1", ("get",)),
    Subresource("eviction", "Eviction", "policy", "v1", ("create",)),
)

ALL_RESOURCES: tuple[ResourceInfo, ...] = (
    # core/v1
    _res("", "v1", "Namespace", "namespaces", namespaced=False, short=("ns",)),
    _res("", "v1", "Pod", "pods", short=("po",), cats=_ALL, extra=_POD_EXTRA),
    _res("", "v1", "Service", "services", short=("svc",), cats=_ALL),
    _res("", "v1", "Endpoints", "endpoints", short=("ep",), status=False, spec_fields=()),
    _res("", "v1", "ConfigMap", "configmaps", short=("cm",), status=False, spec_fields=()),
    _res("", "v1", "Secret", "secrets", status=False, spec_fields=()),
    _res("", "v1", "ServiceAccount", "serviceaccounts", short=("sa",), status=False, spec_fields=()),
    _res("", "v1", "ResourceQuota", "resourcequotas", short=("quota",)),
    _res("", "v1", "LimitRange", "limitranges", short=("limits",), status=False),
    _res("", "v1", "Node", "nodes", namespaced=False, short=("no",)),
    _res("", "v1", "Event", "events", short=("ev",), status=False, spec_fields=()),
    _res("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", short=("pvc",)),
    _res("", "v1", "PersistentVolume", "persistentvolumes", namespaced=False, short=("pv",)),
    # apps/v1
    _res("apps", "v1", "Deployment", "deployments", short=("deploy",), cats=_ALL, scale=True),
    _res("apps", "v1", "ReplicaSet", "replicasets", short=("rs",), cats=_ALL, scale=True),
    _res("apps", "v1", "DaemonSet", "daemonsets", short=("ds",), cats=_ALL),
    _res("apps", "v1", "StatefulSet", "statefulsets", short=("sts",), cats=_ALL, scale=True),
    _res("apps", "v1", "ControllerRevision", "controllerrevisions", status=False, spec_fields=()),
    # batch/v1
    _res("batch", "v1", "Job", "jobs", cats=_ALL),
    _res("batch", "v1", "CronJob", "cronjobs", short=("cj",), cats=_ALL),
    # networking.k8s.io/v1
    _res("networking.k8s.io", "v1", "Ingress", "ingresses", short=("ing",)),
    # autoscaling/v2
    _res("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", short=("hpa",), cats=_ALL),
    # coordination.k8s.io/v1
    _res("coordination.k8s.io", "v1", "Lease", "leases", status=False),
    # admissionregistration.k8s.io/v1
    _res(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        namespaced=False,
    ),
    _res(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        namespaced=False,
        status=False,
    ),
)

# metrics.k8s.io/v1beta1: read-only views the API server keeps in memory (as metrics-server
# serves them), filled by the node agents' samples; never stored, so they are not in
# ALL_RESOURCES (the stored kinds, each with a strategy, printer and schema).
METRICS_GROUP = "metrics.k8s.io"
_METRICS_VERBS = ("get", "list")
METRICS_RESOURCES: tuple[ResourceInfo, ...] = (
    ResourceInfo(METRICS_GROUP, "v1beta1", "NodeMetrics", "nodes", namespaced=False, verbs=_METRICS_VERBS,
                 spec_fields=()),
    ResourceInfo(METRICS_GROUP, "v1beta1", "PodMetrics", "pods", namespaced=True, verbs=_METRICS_VERBS,
                 spec_fields=()),
)
SERVED_RESOURCES: tuple[ResourceInfo, ...] = ALL_RESOURCES + METRICS_RESOURCES
"""Everything discovery lists and the URL router resolves: the stored kinds and the metrics."""

_BY_PLURAL: dict[tuple[str, str], ResourceInfo] = {(r.group, r.plural): r for r in SERVED_RESOURCES}
_BY_GVK: dict[tuple[str, str, str], ResourceInfo] = {(r.group, r.version, r.kind): r for r in SERVED_RESOURCES}
_BY_KIND: dict[tuple[str, str], ResourceInfo] = {(r.group, r.kind): r for r in SERVED_RESOURCES}


def by_plural(group: str, plural: str) -> ResourceInfo | None:
    """The resource served as ``/apis/<group>/<v>/<plural>`` (group "" for core)."""
    return _BY_PLURAL.get((group, plural))


def by_gvk(group: str, version: str, kind: str) -> ResourceInfo | None:
    return _BY_GVK.get((group, version, kind))


def by_group_kind(group: str, kind: str) -> ResourceInfo | None:
    """The served resource of a group and kind, whatever its version (``apps``, ``Deployment``)."""
    return _BY_KIND.get((group, kind))


def by_kind(api_version: str, kind: str) -> ResourceInfo | None:
    """The resource for an object's ``apiVersion`` and ``kind``."""
    group, _, version = api_version.rpartition("/")
    return _BY_GVK.get((group, version, kind))


def resolve(name: str) -> ResourceInfo | None:
    """Find a resource by plural, singular, short name or kind (``deploy``, ``pods``, ``Pod``)."""
    lowered = name.lower()
    resource, _, group = lowered.partition(".")
    for r in ALL_RESOURCES:
        if group and r.group != group:
            continue
        if resource in (r.plural, r.singular, *r.short_names):
            return r
    return None


def group_versions() -> list[tuple[str, str]]:
    """Served (group, version) pairs in discovery order, core first."""
    seen: list[tuple[str, str]] = []
    for r in SERVED_RESOURCES:
        if (r.group, r.version) not in seen:
            seen.append((r.group, r.version))
    return seen


def storage_prefix(info: ResourceInfo, namespace: str | None = None) -> str:
    """The store key prefix of a resource, or of its objects in one namespace.

    Keys look like ``/registry/<group or core>/<plural>/<namespace>/<name>``; cluster-scoped
    ones drop the namespace. A prefix always ends with ``/`` so ``pods`` never matches
    ``podsecuritypolicies``.
    """
    base = f"/registry/{info.group or 'core'}/{info.plural}/"
    if info.namespaced and namespace:
        return f"{base}{namespace}/"
    return base


def storage_key(info: ResourceInfo, namespace: str | None, name: str) -> str:
    """The store key of one object."""
    if info.namespaced:
        return f"/registry/{info.group or 'core'}/{info.plural}/{namespace}/{name}"
    return f"/registry/{info.group or 'core'}/{info.plural}/{name}"
