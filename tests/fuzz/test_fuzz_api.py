"""Random bodies and content types to the API server's create, update, patch and apply.

Whatever arrives, the answer is never a 5xx; every error is a ``v1.Status`` JSON body with a
message and no traceback; and a refused write leaves the store untouched (the revision does not
move). The server runs in-process with real HTTPS (see ``conftest.live``); examples:
``GITKUBE_FUZZ_EXAMPLES`` (150 by default, derandomized; ``GITKUBE_FUZZ_SEED`` for a random run).
Inputs that once broke the server are replayed from ``corpus/api/`` first.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import event, given, seed

from tests.fuzz import strategies
from tests.fuzz.conftest import LiveServer

CORPUS = Path(__file__).parent / "corpus" / "api"


@pytest.fixture(scope="module", autouse=True)
def _namespace(live: LiveServer) -> None:
    reply = live.request("POST", "/api/v1/namespaces", b'{"apiVersion":"v1","kind":"Namespace",'
                         b'"metadata":{"name":"fuzz"}}', "application/json")
    assert reply.status in (201, 409), reply.body
    for template in strategies.TEMPLATES:  # objects for the updates and patches to aim at
        collection = next(c for c, _n, kind in strategies.RESOURCES if kind == template["kind"])
        reply = live.request("POST", collection, json.dumps(template).encode(), "application/json")
        assert reply.status in (201, 409), reply.body


def check(live: LiveServer, method: str, path: str, content_type: str, body: bytes) -> None:
    before = live.revision()
    reply = live.request(method, path, body, content_type)
    what = f"{method} {path} [{content_type}] {body[:300]!r}"
    if _in_hypothesis():
        event(f"{method} -> {reply.status}")
        if reply.status in (400, 422):
            event(f"{reply.status}: {json.loads(reply.body).get('message', '')[:50]}")
    assert reply.status < 500, f"{reply.status} for {what}: {reply.body[:500]!r}"
    assert b"Traceback" not in reply.body and b'File "' not in reply.body, what
    if reply.status >= 400:
        status = json.loads(reply.body)
        assert status["kind"] == "Status" and status["code"] == reply.status, (what, status)
        assert isinstance(status["message"], str) and status["message"], (what, status)
        if "dryRun" not in path:
            assert live.revision() == before, f"a refused write changed the store: {what}"
    if "dryRun=All" in path:
        assert live.revision() == before, f"a dry run changed the store: {what}"


def _in_hypothesis() -> bool:
    from hypothesis.control import currently_in_test_context

    return bool(currently_in_test_context())


def _corpus() -> list[tuple[str, str, str, bytes]]:
    cases = []
    for meta in sorted(CORPUS.glob("*.json")):
        doc = json.loads(meta.read_text())
        cases.append((doc["method"], doc["path"], doc["contentType"], meta.with_suffix(".body").read_bytes()))
    return cases


@pytest.mark.parametrize(("method", "path", "content_type", "body"), _corpus(),
                         ids=[p.stem for p in sorted(CORPUS.glob("*.json"))])
def test_corpus(live: LiveServer, method: str, path: str, content_type: str, body: bytes) -> None:
    check(live, method, path, content_type, body)


@seed(strategies.seed() or 0)
@strategies.settings()
@given(request=strategies.api_request())
def test_random_writes(live: LiveServer, request: tuple[str, str, str, bytes]) -> None:
    check(live, *request)
