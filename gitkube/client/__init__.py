"""Clients of the Kubernetes API: REST client, transports, informers, work queues, events.

Every component other than the API server reaches cluster state only through this package
(layering rule R1)."""

from __future__ import annotations

from gitkube.client.events import EventRecorder
from gitkube.client.informer import Handler, Informer, key_of
from gitkube.client.rest import Client, PatchType, WatchEvent, path_for
from gitkube.client.transport import HTTPTransport, from_kubeconfig
from gitkube.client.workqueue import WorkQueue, run_workers

__all__ = [
    "Client",
    "EventRecorder",
    "HTTPTransport",
    "Handler",
    "Informer",
    "PatchType",
    "WatchEvent",
    "WorkQueue",
    "from_kubeconfig",
    "key_of",
    "path_for",
    "run_workers",
]
