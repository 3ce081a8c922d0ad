"""The web dashboard of ``gitkube up``, served on the API server's HTTPS port under ``/ui/``.

Server-rendered HTML (Jinja2 templates in ``templates/``) with htmx and its SSE extension
(vendored, minified, in ``static/``: no Node.js needed by users). Pages: login, overview (sync
state, commit, last sync, drift, health per object), history (rollback points, with a Rollback
button for the admin and the rollback's progress live), plan (the branch head's diff against the
cluster), objects (Deployment → ReplicaSet → Pods, Service → Endpoints → Pods, with health colours),
pod logs (followed live) and events (live). Live parts are pushed by server-sent events driven by
the API's watches.

Modules: ``server`` (routes, sessions, CSRF, pages), ``sessions``, ``cache`` (the watches),
``views`` (what each page shows), ``tree`` (the object tree, pure), ``sse`` (the streams).
Built by ``gitkube.app``, which mounts :meth:`Dashboard.handle` under ``/ui/``; talks to the
cluster only through a ``gitkube.client.Client`` and to the GitOps engine through its ``Engine``.
"""

from __future__ import annotations

from gitkube.ui.server import Authenticate, Dashboard
from gitkube.ui.sessions import Session, SessionStore

__all__ = ["Authenticate", "Dashboard", "Session", "SessionStore"]
