"""Dashboard sessions: a random id in a cookie, the identity kept on the server.

``gitkube.ui.server`` creates a :class:`Session` when a token logs in (admin or read-only) and
reads it back from the ``gitkube_session`` cookie on every request. The cookie carries only a
random id (``secrets.token_urlsafe``); the token itself is never stored, in the cookie or here.
Each session has its own CSRF token, checked on every POST beside the Origin/Host match, and an
absolute expiry (:data:`SESSION_TTL`). Sessions live in memory: a daemon restart logs everyone out.
"""

from __future__ import annotations

import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COOKIE", "SESSION_TTL", "Session", "SessionStore"]

COOKIE = "gitkube_session"
SESSION_TTL = 12 * 3600.0
MAX_SESSIONS = 10_000


@dataclass(frozen=True)
class Session:
    """One logged-in browser: who it is (``admin`` or read-only), its CSRF token, when it ends."""

    id: str
    admin: bool
    csrf: str
    expires: float

    @property
    def role(self) -> str:
        return "admin" if self.admin else "read-only"

    def csrf_ok(self, given: str | None) -> bool:
        return bool(given) and hmac.compare_digest(self.csrf.encode(), str(given).encode())


class SessionStore:
    """Sessions by id, with expiry; ``clock`` is injectable for tests."""

    def __init__(self, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, *, admin: bool) -> Session:
        self._purge()
        if len(self._sessions) >= MAX_SESSIONS:  # drop the oldest rather than grow without bound
            oldest = min(self._sessions.values(), key=lambda s: s.expires)
            del self._sessions[oldest.id]
        session = Session(secrets.token_urlsafe(32), admin, secrets.token_urlsafe(32), self._clock() + self.ttl)
        self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session of ``session_id``, or None (unknown or expired)."""
        if not session_id:
            return None
        session = self._sessions.get(session_id)
        if session is None:
            return None
        if session.expires <= self._clock():
            del self._sessions[session_id]
            return None
        return session

    def delete(self, session_id: str | None) -> None:
        if session_id:
            self._sessions.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._sessions)

    def _purge(self) -> None:
        now = self._clock()
        for sid in [sid for sid, s in self._sessions.items() if s.expires <= now]:
            del self._sessions[sid]
