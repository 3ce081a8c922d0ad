"""The ServiceAccount controller ("serviceaccount-controller"), after kube-controller-manager's
``pkg/controller/serviceaccount``: every active namespace has a ``default`` ServiceAccount.

A namespace being added or updated, or its ``default`` ServiceAccount being deleted,
enqueues the namespace; ``sync(namespace)`` creates the account when the cache lacks it and
the namespace is not terminating. Started by the ControllerManager.
"""

from __future__ import annotations

from typing import Any

from gitkube import errors
from gitkube.client import Client, Handler, Informer
from gitkube.controllers.base import Controller

__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "ServiceAccountController"]

DEFAULT_SERVICE_ACCOUNTS = ("default",)


class ServiceAccountController(Controller):
    name = "serviceaccount-controller"
    workers = 2

    def __init__(self, client: Client, *, informers: dict[str, Informer] | None = None) -> None:
        super().__init__(client, informers=informers)
        self.namespaces = self.informer("namespaces")
        self.accounts = self.informer("serviceaccounts")
        self.namespaces.add_handler(Handler(on_add=self.enqueue, on_update=lambda _o, n: self.enqueue(n)))
        self.accounts.add_handler(Handler(on_delete=self._account_deleted))

    def _account_deleted(self, account: dict[str, Any]) -> None:
        m = account.get("metadata") or {}
        if m.get("name") in DEFAULT_SERVICE_ACCOUNTS and m.get("namespace"):
            self.queue.add(str(m["namespace"]))

    async def sync(self, key: str) -> None:
        namespace = self.namespaces.get(None, key)
        if namespace is None or (namespace.get("metadata") or {}).get("deletionTimestamp"):
            return
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return
        for name in DEFAULT_SERVICE_ACCOUNTS:
            if self.accounts.get(key, name) is not None:
                continue
            body = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": name, "namespace": key}}
            try:
                await self.client.create("serviceaccounts", body, key)
            except errors.AlreadyExists:
                pass
            except errors.APIError as exc:
                if "because it is being terminated" in exc.message or isinstance(exc, errors.NotFound):
                    continue
                raise
