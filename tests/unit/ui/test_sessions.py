"""Dashboard sessions: random ids, per-session CSRF tokens, expiry."""

from __future__ import annotations

from gitkube.ui.sessions import SessionStore


def test_sessions_expire_and_are_distinct() -> None:
    now = [1000.0]
    store = SessionStore(ttl=60, clock=lambda: now[0])
    a, b = store.create(admin=True), store.create(admin=False)
    assert a.id != b.id and a.csrf != b.csrf and len(a.id) >= 40
    assert store.get(a.id) == a and store.get(b.id) is not None and b.role == "read-only"
    assert store.get("nope") is None and store.get(None) is None
    now[0] += 61
    assert store.get(a.id) is None
    assert len(store) == 1  # b is purged at the next create
    store.create(admin=True)
    assert len(store) == 1


def test_csrf_check_and_delete() -> None:
    store = SessionStore()
    s = store.create(admin=True)
    assert s.csrf_ok(s.csrf)
    assert not s.csrf_ok("") and not s.csrf_ok(None) and not s.csrf_ok(s.csrf + "x")
    store.delete(s.id)
    assert store.get(s.id) is None
