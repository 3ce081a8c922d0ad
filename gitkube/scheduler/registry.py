"""Plugin registry: plugin name -> factory, as kube-scheduler's ``runtime/registry.go``
(registering a name twice is an error), plus the default profile: which plugins run, in
which order, and the weight of each score plugin.

The filter order follows kube-scheduler's defaults (cheap, unresolvable checks first:
NodeUnschedulable, NodeName, TaintToleration, NodeAffinity, then NodePorts and
NodeResourcesFit); the first filter that rejects a node decides its reason. Weights follow
the defaults too (TaintToleration 3, NodeAffinity 2, spreading 2, resources 1 each).
Used by :class:`gitkube.scheduler.scheduler.Scheduler` to build its framework.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from gitkube.scheduler.framework import Plugin
from gitkube.scheduler.plugins import (
    balanced_allocation,
    least_allocated,
    node_affinity,
    node_name,
    node_ports,
    node_resources_fit,
    node_unschedulable,
    selector_spread,
    taint_toleration,
)

__all__ = ["DEFAULT_PLUGINS", "DEFAULT_WEIGHTS", "Factory", "Registry", "default_registry"]

Factory = Callable[[], Plugin]

DEFAULT_PLUGINS: tuple[str, ...] = (
    node_unschedulable.NAME,
    node_name.NAME,
    taint_toleration.NAME,
    node_affinity.NAME,
    node_ports.NAME,
    node_resources_fit.NAME,
    selector_spread.NAME,
    least_allocated.NAME,
    balanced_allocation.NAME,
)

DEFAULT_WEIGHTS: Mapping[str, int] = {
    taint_toleration.NAME: 3,
    node_affinity.NAME: 2,
    selector_spread.NAME: 2,
    least_allocated.NAME: 1,
    balanced_allocation.NAME: 1,
}


class Registry:
    """Names to factories; duplicates rejected."""

    def __init__(self, factories: Mapping[str, Factory] | None = None) -> None:
        self._factories: dict[str, Factory] = {}
        for name, factory in (factories or {}).items():
            self.register(name, factory)

    def register(self, name: str, factory: Factory) -> None:
        if name in self._factories:
            raise ValueError(f"a plugin named {name} already exists")
        self._factories[name] = factory

    def unregister(self, name: str) -> None:
        if name not in self._factories:
            raise ValueError(f"no plugin named {name} exists")
        del self._factories[name]

    def names(self) -> list[str]:
        return list(self._factories)

    def __contains__(self, name: object) -> bool:
        return name in self._factories

    def build(self, names: Iterable[str]) -> list[Plugin]:
        """Instantiate the named plugins, in order."""
        plugins: list[Plugin] = []
        for name in names:
            factory = self._factories.get(name)
            if factory is None:
                raise ValueError(f"plugin {name!r} does not exist")
            plugin = factory()
            if plugin.name != name:
                raise ValueError(f"plugin registered as {name!r} calls itself {plugin.name!r}")
            plugins.append(plugin)
        return plugins


def default_registry() -> Registry:
    """Every in-tree plugin."""
    modules = (node_unschedulable, node_name, taint_toleration, node_affinity, node_ports, node_resources_fit,
               selector_spread, least_allocated, balanced_allocation)
    return Registry({m.NAME: m.new for m in modules})
