"""The authorization matrix over real HTTPS: verb x resource x {no token, read-only, admin}.

- no token (and a wrong token, and the admin token under the wrong scheme): 401 for everything
  except the public health and version endpoints;
- read-only: get, list and watch allowed on everything but Secrets (403 on those); every write 403,
  and the object is unchanged afterwards;
- admin: every verb allowed.

Each resource has a fixture object made by the admin that the refused writes aim at; the admin's
own writes use objects of their own. The gitkube endpoints (/gitkube/v1/*, /api/webhook), the
hosted repository (/git/repo.git) and /metrics are in the matrix too. A few checks repeat the
matrix through kubectl and the kubernetes Python client.
"""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.security.conftest import Reply, Sec

pytestmark = pytest.mark.e2e

NS = "sec-matrix"
READS = ("get", "list", "watch")
WRITES = ("create", "update", "patch", "delete", "deletecollection")
IDENTITIES = ("none", "readonly", "admin")


@dataclass(frozen=True)
class Resource:
    name: str           # what the test id shows
    collection: str     # path of the collection
    kind: str
    api_version: str
    body: dict           # extra top-level fields of a new object
    subresource: str = ""

    def obj(self, name: str) -> dict:
        meta: dict = {"name": name, "labels": {"sec-matrix": "yes"}}
        return {"apiVersion": self.api_version, "kind": self.kind, "metadata": meta, **json.loads(json.dumps(self.body))}

    def item(self, name: str) -> str:
        return f"{self.collection}/{name}" + (f"/{self.subresource}" if self.subresource else "")


_PENDING_POD = {"spec": {"nodeSelector": {"sec-matrix": "nowhere"}, "terminationGracePeriodSeconds": 0,
                         "containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
_DEPLOY = {"spec": {"replicas": 0, "selector": {"matchLabels": {"app": "m"}},
                    "template": {"metadata": {"labels": {"app": "m"}},
                                 "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}}}
_NSD = f"/api/v1/namespaces/{NS}"
RESOURCES = [
    Resource("pods", f"{_NSD}/pods", "Pod", "v1", _PENDING_POD),
    Resource("secrets", f"{_NSD}/secrets", "Secret", "v1", {"stringData": {"k": "v"}}),
    Resource("configmaps", f"{_NSD}/configmaps", "ConfigMap", "v1", {"data": {"k": "v"}}),
    Resource("services", f"{_NSD}/services", "Service", "v1", {"spec": {"ports": [{"port": 80}]}}),
    Resource("events", f"{_NSD}/events", "Event", "v1",
             {"involvedObject": {"kind": "Pod", "name": "x", "namespace": NS}, "reason": "Test", "message": "m"}),
    Resource("deployments", f"/apis/apps/v1/namespaces/{NS}/deployments", "Deployment", "apps/v1", _DEPLOY),
    Resource("namespaces", "/api/v1/namespaces", "Namespace", "v1", {}),
    Resource("nodes", "/api/v1/nodes", "Node", "v1", {"spec": {"unschedulable": True}}),
]
SCALE = Resource("deployments/scale", f"/apis/apps/v1/namespaces/{NS}/deployments", "Deployment", "apps/v1",
                 _DEPLOY, subresource="scale")
LOG = Resource("pods/log", f"{_NSD}/pods", "Pod", "v1", _PENDING_POD, subresource="log")


def _token(sec: Sec, who: str) -> str | None:
    return {"none": None, "readonly": sec.readonly_token, "admin": sec.admin_token}[who]


def _fixture_name(res: Resource) -> str:
    return f"sec-fix-{res.kind.lower()}"


@pytest.fixture(scope="module")
def objects(sec: Sec) -> Iterator[dict[str, dict]]:
    """The fixture object of each resource, made by the admin; resourceVersions kept to prove
    that refused writes changed nothing."""
    created = sec.request("POST", "/api/v1/namespaces", sec.admin_token,
                          json.dumps({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}).encode())
    assert created.status in (201, 409), created.body
    out = {}
    for res in RESOURCES:
        reply = sec.request("POST", res.collection, sec.admin_token, json.dumps(res.obj(_fixture_name(res))).encode())
        assert reply.status == 201, (res.name, reply.status, reply.body)
        out[res.name] = reply.json()
    yield out


def _do(sec: Sec, res: Resource, verb: str, token: str | None, name: str) -> Reply:
    if verb == "get":
        return sec.request("GET", res.item(name), token)
    if verb == "list":
        return sec.request("GET", res.collection, token)
    if verb == "watch":
        return sec.request("GET", res.collection + "?watch=1&timeoutSeconds=1", token)
    if verb == "create":
        return sec.request("POST", res.collection, token, json.dumps(res.obj(name)).encode())
    if verb == "update":
        live = sec.request("GET", res.item(name), sec.admin_token).json()
        if res.subresource == "scale":
            live["spec"]["replicas"] = 0
        else:
            live["metadata"].setdefault("labels", {})["updated"] = "yes"
        return sec.request("PUT", res.item(name), token, json.dumps(live).encode())
    if verb == "patch":
        patch = {"spec": {"replicas": 0}} if res.subresource == "scale" else {"metadata": {"labels": {"patched": "yes"}}}
        return sec.request("PATCH", res.item(name), token, json.dumps(patch).encode(),
                           content_type="application/merge-patch+json")
    if verb == "delete":
        return sec.request("DELETE", res.item(name), token)
    if verb == "deletecollection":
        return sec.request("DELETE", res.collection + "?labelSelector=sec-matrix%3Dnobody", token)
    raise AssertionError(verb)


def _expected(who: str, res: Resource, verb: str) -> int | tuple[int, ...]:
    if who == "none":
        return 401
    if who == "readonly":
        if verb in READS and res.name != "secrets":
            return 200
        return 403
    return {"get": 200, "list": 200, "watch": 200, "create": 201, "update": 200, "patch": 200,
            "delete": (200, 202), "deletecollection": 200}[verb]


def _assert_status(reply: Reply, expected: int | tuple[int, ...], what: str) -> None:
    wanted = expected if isinstance(expected, tuple) else (expected,)
    assert reply.status in wanted, f"{what}: {reply.status} (wanted {wanted}): {reply.body[:300]!r}"
    if reply.status in (401, 403):
        status = reply.json()
        assert status["kind"] == "Status" and status["code"] == reply.status, status
        assert b"items" not in reply.body and b"stringData" not in reply.body


@pytest.mark.parametrize("who", ["none", "readonly"])
@pytest.mark.parametrize("verb", READS + WRITES)
@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.name)
def test_refused_and_read_only(sec: Sec, objects: dict[str, dict], res: Resource, verb: str, who: str) -> None:
    name = _fixture_name(res) if verb != "create" else f"sec-new-{who}"
    reply = _do(sec, res, verb, _token(sec, who), name)
    _assert_status(reply, _expected(who, res, verb), f"{who} {verb} {res.name}")
    after = sec.request("GET", res.item(_fixture_name(res)), sec.admin_token)
    assert after.status == 200, after.body
    live = after.json()["metadata"]  # controllers update status; the refused write must not show
    assert live["uid"] == objects[res.name]["metadata"]["uid"] and "deletionTimestamp" not in live, f"{who} {verb}"
    assert not {"updated", "patched"} & set(live.get("labels") or {}), f"{who} {verb} {res.name} changed the object"
    if verb == "create":
        assert sec.request("GET", res.item(name), sec.admin_token).status == 404


@pytest.mark.parametrize("res", RESOURCES, ids=lambda r: r.name)
def test_admin_can_do_everything(sec: Sec, objects: dict[str, dict], res: Resource) -> None:
    name = f"sec-adm-{res.kind.lower()}"
    for verb in ("create", "get", "list", "watch", "update", "patch", "deletecollection", "delete"):
        reply = _do(sec, res, verb, sec.admin_token, name)
        _assert_status(reply, _expected("admin", res, verb), f"admin {verb} {res.name}")
    if verb == "watch":
        assert b'"ADDED"' in reply.body


@pytest.mark.parametrize("who", IDENTITIES)
@pytest.mark.parametrize("verb", ["get", "update", "patch"])
def test_deployment_scale(sec: Sec, objects: dict[str, dict], who: str, verb: str) -> None:
    reply = _do(sec, SCALE, verb, _token(sec, who), _fixture_name(SCALE))
    expected = 401 if who == "none" else (200 if who == "admin" or verb == "get" else 403)
    _assert_status(reply, expected, f"{who} {verb} deployments/scale")
    if verb == "get" and who != "none":
        assert reply.json()["kind"] == "Scale"


@pytest.mark.parametrize("who", IDENTITIES)
def test_pod_log(sec: Sec, objects: dict[str, dict], who: str) -> None:
    reply = _do(sec, LOG, "get", _token(sec, who), _fixture_name(LOG))
    if who == "none":
        _assert_status(reply, 401, "pods/log without a token")
    else:  # allowed: a pending pod has no log yet, which is a 400, not a 401/403
        assert reply.status not in (401, 403), reply.body


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Bearer ", "Basic YWRtaW46YWRtaW4=", "bearer"])
def test_bad_credentials_are_401(sec: Sec, objects: dict[str, dict], header: str) -> None:
    reply = sec.request("GET", "/api/v1/namespaces", headers={"Authorization": header})
    _assert_status(reply, 401, f"GET namespaces with {header!r}")
    reply = sec.request("GET", "/api/v1/namespaces", headers={"Authorization": f"Basic {sec.admin_token}"})
    _assert_status(reply, 401, "the admin token under the Basic scheme")


@pytest.mark.parametrize("path", ["/api", "/apis", "/api/v1", "/apis/apps/v1", "/openapi/v3", "/openapi/v2"])
def test_discovery_needs_a_token(sec: Sec, objects: dict[str, dict], path: str) -> None:
    _assert_status(sec.request("GET", path), 401, f"GET {path} without a token")
    assert sec.request("GET", path, sec.readonly_token).status == 200


@pytest.mark.parametrize("path", ["/healthz", "/livez", "/readyz", "/version"])
def test_public_endpoints_carry_no_data(sec: Sec, objects: dict[str, dict], path: str) -> None:
    reply = sec.request("GET", path)
    assert reply.status == 200
    assert sec.admin_token.encode() not in reply.body and b"items" not in reply.body


ENGINE = [  # (method, path, body, expected for none / readonly / admin)
    ("GET", "/gitkube/v1/status", None, (401, 200, 200)),
    ("GET", "/gitkube/v1/history", None, (401, 200, 200)),
    ("POST", "/gitkube/v1/sync", b"{}", (401, 403, 202)),
    ("POST", "/gitkube/v1/rollback", b"{}", (401, 403, None)),  # admin: not here (it would roll back)
    ("POST", "/api/webhook", b"{}", (401, 403, 202)),
    ("GET", "/git/repo.git/info/refs?service=git-upload-pack", None, (401, 200, 200)),
    ("GET", "/git/repo.git/info/refs?service=git-receive-pack", None, (401, 403, 200)),
    ("POST", "/git/repo.git/git-receive-pack", b"0000", (401, 403, None)),
]


@pytest.mark.parametrize("who", IDENTITIES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), ENGINE, ids=[f"{m} {p}" for m, p, _b, _e in ENGINE])
def test_gitkube_endpoints(sec: Sec, objects: dict[str, dict], who: str, method: str, path: str,
                           body: bytes | None, expected: tuple[int, int, int | None]) -> None:
    want = expected[IDENTITIES.index(who)]
    if want is None:
        pytest.skip("a write the suite does not make as admin")
    token = _token(sec, who)
    headers: dict[str, str] = {}
    if path.startswith("/git/"):  # git sends the token as the Basic-auth password
        import base64
        headers = {"Authorization": "Basic " + base64.b64encode(f"x:{token}".encode()).decode()} if token else {}
        token = None
    reply = sec.request(method, path, token, body, headers=headers)
    assert reply.status == want, f"{who} {method} {path}: {reply.status} {reply.body[:200]!r}"


@pytest.mark.parametrize("who", IDENTITIES)
def test_metrics(sec: Sec, objects: dict[str, dict], who: str) -> None:
    if sec.request("GET", "/metrics", sec.admin_token).status == 404:
        pytest.skip("/metrics is not served by this build")
    reply = sec.request("GET", "/metrics", _token(sec, who))
    assert reply.status == (401 if who == "none" else 200), reply.body[:200]


def test_kubectl_with_each_identity(sec: Sec, objects: dict[str, dict], tmp_path) -> None:
    k = sec.kubectl
    ro = sec.daemon.readonly_kubeconfig
    assert "sec-fix-configmap" in k.run("-n", NS, "get", "cm", kubeconfig=ro).stdout
    denied = k.run("-n", NS, "get", "secrets", check=False, kubeconfig=ro)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr and "sec-fix-secret" not in denied.stdout
    denied = k.run("-n", NS, "delete", "cm", "sec-fix-configmap", check=False, kubeconfig=ro)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    denied = k.run("-n", NS, "scale", "deploy", "sec-fix-deployment", "--replicas=0", check=False, kubeconfig=ro)
    assert denied.returncode != 0 and "Forbidden" in denied.stderr
    anonymous = tmp_path / "anonymous.kubeconfig"
    doc = json.loads(json.dumps(__import__("yaml").safe_load(sec.daemon.kubeconfig.read_text())))
    doc["users"][0]["user"] = {"token": "not-a-token"}
    anonymous.write_text(json.dumps(doc))
    denied = k.run("-n", NS, "get", "cm", check=False, kubeconfig=anonymous)
    assert denied.returncode != 0 and "Unauthorized" in denied.stderr, denied.stderr
    assert "sec-fix-secret" in k.run("-n", NS, "get", "secrets").stdout


def test_kubernetes_client_with_each_identity(sec: Sec, objects: dict[str, dict]) -> None:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    def api(kubeconfig) -> client.CoreV1Api:
        return client.CoreV1Api(config.new_client_from_config(str(kubeconfig)))

    ro, admin = api(sec.daemon.readonly_kubeconfig), api(sec.daemon.kubeconfig)
    assert [cm.metadata.name for cm in ro.list_namespaced_config_map(NS).items] == ["kube-root-ca.crt", "sec-fix-configmap"] \
        or "sec-fix-configmap" in [cm.metadata.name for cm in ro.list_namespaced_config_map(NS).items]
    for call in (lambda: ro.list_namespaced_secret(NS), lambda: ro.read_namespaced_secret("sec-fix-secret", NS),
                 lambda: ro.create_namespaced_config_map(NS, {"metadata": {"name": "ro-made"}}),
                 lambda: ro.delete_namespaced_pod("sec-fix-pod", NS)):
        with pytest.raises(ApiException) as err:
            call()
        assert err.value.status == 403
    assert admin.read_namespaced_secret("sec-fix-secret", NS).data["k"]


def test_git_push_needs_the_admin_token(sec: Sec, objects: dict[str, dict], tmp_path) -> None:
    work = tmp_path / "work"
    work.mkdir()

    def git(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {"GIT_TERMINAL_PROMPT": "0", "GIT_SSL_CAINFO": str(sec.data / "pki" / "ca.crt"),
               "HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "GIT_ASKPASS": "/bin/false"}
        proc = subprocess.run(["git", *args], cwd=work, capture_output=True, text=True, timeout=60, env=env)
        assert not check or proc.returncode == 0, proc.stderr
        return proc

    git("init", "-q", "-b", "main")
    git("-c", "user.email=x@example.com", "-c", "user.name=x", "commit", "-q", "--allow-empty", "-m", "intruder")
    before = subprocess.run(["git", "--git-dir", str(sec.data / "repo.git"), "for-each-ref"], capture_output=True,
                            text=True).stdout
    base = sec.daemon.url.replace("https://", "")
    for creds in ("", f"x:{sec.readonly_token}@", "x:wrong@"):
        pushed = git("push", f"https://{creds}{base}/git/repo.git", "HEAD:refs/heads/intruder", check=False)
        assert pushed.returncode != 0, (creds, pushed.stderr)
        assert "intruder" not in pushed.stderr.split("error:")[0] or "->" not in pushed.stderr
    after = subprocess.run(["git", "--git-dir", str(sec.data / "repo.git"), "for-each-ref"], capture_output=True,
                           text=True).stdout
    assert after == before and "intruder" not in after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.parametrize("path", ["/ui/", "/ui/history", "/ui/objects", "/ui/events", "/ui/plan",
                                  f"/ui/logs/{NS}/sec-fix-pod", "/ui/live/events", "/ui/live/objects"])
def test_dashboard_needs_a_session(sec: Sec, objects: dict[str, dict], path: str) -> None:
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=sec.ssl_context()), _NoRedirect)
    for headers in ({}, {"Authorization": f"Bearer {sec.admin_token}"[:20]}, {"Cookie": "gitkube_session=forged"}):
        try:
            with opener.open(urllib.request.Request(sec.daemon.url + path, headers=headers), timeout=10) as resp:
                status, body = resp.status, resp.read()
        except urllib.error.HTTPError as err:
            status, body = err.code, err.read()
        assert status in (302, 303, 401), (path, headers, status)
        assert b"sec-fix-" not in body and b"sec-matrix" not in body


@pytest.mark.parametrize("path", ["/ui/static/../../tokens", "/ui/static/..%2f..%2ftokens", "/ui/static/%2e%2e/kubeconfig",
                                  "/ui/static/.htaccess", "/git/repo.git/../tokens", "/git/..%2ftokens",
                                  "/gitkube/v1/../../tokens"])
def test_no_path_escapes_to_the_data_dir(sec: Sec, objects: dict[str, dict], path: str) -> None:
    for token in (None, sec.readonly_token, sec.admin_token):
        reply = sec.request("GET", path, token)
        assert reply.status in (400, 401, 403, 404), (path, reply.status)
        assert sec.admin_token.encode() not in reply.body and b"BEGIN" not in reply.body
