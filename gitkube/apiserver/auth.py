"""Authentication by bearer token and authorization by role.

Two principals exist: ``gitkube-admin`` (everything) and ``gitkube-readonly`` (get, list
and watch on every resource except Secrets, and pod logs). A missing or wrong token is a
401; a forbidden verb is a 403 worded as Kubernetes RBAC words it, so kubectl prints the
familiar ``Error from server (Forbidden): ...``. Tokens are compared in constant time.

Called by ``server`` for every request outside ``/version`` and the health endpoints.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from gitkube import errors
from gitkube.apiserver.requestinfo import RequestInfo

__all__ = ["ADMIN", "READONLY", "TokenAuthenticator", "User", "authorize"]


@dataclass(frozen=True)
class User:
    name: str
    read_only: bool


ADMIN = User("gitkube-admin", read_only=False)
READONLY = User("gitkube-readonly", read_only=True)

_READ_VERBS = ("get", "list", "watch")


class TokenAuthenticator:
    def __init__(self, admin_token: str, readonly_token: str) -> None:
        self._tokens = ((admin_token.encode(), ADMIN), (readonly_token.encode(), READONLY))

    def authenticate(self, header: str | None) -> User:
        if header:
            scheme_, _, token = header.partition(" ")
            if scheme_.lower() == "bearer" and token:
                given = token.strip().encode()
                for known, user in self._tokens:
                    if hmac.compare_digest(given, known):
                        return user
        raise errors.Unauthorized("Unauthorized")


def authorize(user: User, ri: RequestInfo) -> None:
    """Raise Forbidden unless ``user`` may do ``ri``."""
    if not user.read_only:
        return
    info = ri.info
    allowed = ri.verb in _READ_VERBS and not (info.group == "" and info.plural == "secrets")
    if allowed:
        return
    resource = info.plural + (f"/{ri.subresource}" if ri.subresource else "")
    subject = f'{info.group_resource} "{ri.name}"' if ri.name else info.group_resource
    where = f' in the namespace "{ri.namespace}"' if ri.namespace else ""
    scope = where if info.namespaced else " at the cluster scope"
    raise errors.Forbidden(
        f'{subject} is forbidden: User "{user.name}" cannot {ri.verb} resource "{resource}" '
        f'in API group "{info.group}"{scope}',
        kind=info.plural,
        name=ri.name or "",
        group=info.group,
    )
