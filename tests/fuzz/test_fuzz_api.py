"""Random bodies and content types to the API server's create, update, patch and apply.

Whatever arrives, the answer is never a 5xx; every error is a ``v1.Status`` JSON body with a
message and no traceback; and a refused (or dry-run) write leaves the objects of its collection
untouched. The server runs in-process with real HTTPS (see ``conftest.live``); examples:
``GITKUBE_FUZZ_EXAMPLES`` (150 by default, derandomized; ``GITKUBE_FUZZ_SEED`` for a random run).
Inputs that once broke the server are replayed from ``corpus/api/`` first.
"""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest
from hypothesis import event, given, seed
from hypothesis import strategies as st

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


def _collection(method: str, path: str) -> str:
    base = path.split("?", 1)[0]
    if method == "POST":
        return base
    return next(c for c, _n, _k in strategies.RESOURCES if base.startswith(c + "/"))


def _snapshot(live: LiveServer, collection: str) -> dict[str, tuple[str, bool]]:
    """name -> (resourceVersion, terminating) of every object of the collection."""
    reply = live.request("GET", collection)
    assert reply.status == 200, reply.body[:200]
    return {o["metadata"]["name"]: (o["metadata"]["resourceVersion"], "deletionTimestamp" in o["metadata"])
            for o in json.loads(reply.body)["items"]}


def check(live: LiveServer, method: str, path: str, content_type: str, body: bytes) -> None:
    collection = _collection(method, path)
    before = _snapshot(live, collection)
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
    if reply.status >= 400 or "dryRun=All" in path:
        after = _snapshot(live, collection)
        # objects already terminating may finish their graceful deletion meanwhile (a timer of the server)
        changed = [n for n in set(before) | set(after) if before.get(n) != after.get(n)
                   and not (before.get(n) or ("", False))[1]]
        assert not changed, f"a refused or dry-run write changed {changed}: {what}"


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


selector_text = st.one_of(st.text(max_size=40), st.sampled_from([
    "a=b", "a!=b", "a in (b,c)", "a notin (b)", "!a", "a", "a==b,c", "metadata.name=cm", "spec.nodeName=",
    "a in (", "=b", "a=b=c", "a in ()", "status.phase!=Running", "x" * 300, "a,,b", "(a)", "a in (b", "\x00"]))
query_value = st.one_of(st.text(max_size=20), st.sampled_from(["0", "-1", "1", "99999999999999999999", "abc",
                                                               "true", "1.5", ""]))


@seed(strategies.seed() or 0)
@strategies.settings()
@given(collection=st.sampled_from([c for c, _n, _k in strategies.RESOURCES]),
       params=st.dictionaries(st.sampled_from(["labelSelector", "fieldSelector", "limit", "continue",
                                               "resourceVersion", "resourceVersionMatch", "timeoutSeconds",
                                               "watch", "allowWatchBookmarks", "sendInitialEvents",
                                               "includeObject", "propagationPolicy"]),
                              st.one_of(selector_text, query_value), max_size=4),
       method=st.sampled_from(["GET", "GET", "DELETE"]))
def test_random_reads_and_collection_deletes(live: LiveServer, collection: str, params: dict[str, str],
                                             method: str) -> None:
    if method == "DELETE":
        params = {**params, "labelSelector": "fuzz-never-matches=x"}  # never wipe the fixtures
    if params.get("watch", "").lower() in ("1", "true"):
        params["timeoutSeconds"] = "1"
    query = urllib.parse.urlencode(params)
    reply = live.request(method, f"{collection}?{query}")
    assert reply.status < 500, f"{reply.status} for {method} {collection}?{query}: {reply.body[:300]!r}"
    assert b"Traceback" not in reply.body
    if reply.status >= 400:
        status = json.loads(reply.body)
        assert status["kind"] == "Status" and status["message"], status
