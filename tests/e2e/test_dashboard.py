"""Issue 7, the web dashboard, end to end: a real daemon with a local node, git pushes, and Debian's
headless Chromium driven by Playwright.

The tests run in file order and build on each other: log in with the admin token, see the synced
commit, the object tree with the pods Ready in green, a change made with kubectl appear without a
reload, events, a pod's log lines arriving live, the history with a Rollback button whose click
rolls the cluster back, the plan of the branch head; then the read-only token sees no button and
no Secret, and its POST is refused. A screenshot of each page lands in ``$GITKUBE_ARTIFACTS/dashboard``
(default ``test-artifacts/dashboard``).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitkube.testing.servers import SERVER, server_container
from tests.e2e.conftest import Daemon, Kubectl, _kubectl_binary, start_daemon, stop_daemon
from tests.e2e.test_gitops import git
from tests.e2e.test_kubectl import get_json, wait_for
from tests.e2e.test_workloads import reap_containers

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
DAEMON_ARGS = ["--node-name", "dash-node", "--crashloop-backoff", "1s", "--rollout-timeout", "60s",
               "--service-cidr", "127.79.0.0/16", "--cluster-cidr", "127.100.0.0/14"]
NS = "dash"
SECRET_NAME = "db-password-for-dashboard"
SECRET_VALUE = "hunter2-dashboard-secret"
WAIT_MS = 30_000
GREEN = "rgb(218, 251, 225)"  # .h-Healthy background

# the pods' server, logging every request (the readiness probe's too): a steady live log
LOGGING_SERVER = SERVER.replace("    def log_message(self, *args):\n        pass\n",
                                "    def log_message(self, fmt, *args):\n        print('request', fmt % args, flush=True)\n")
assert LOGGING_SERVER != SERVER


def deployment(version: str) -> str:
    container = server_container(version, program=LOGGING_SERVER)
    return json.dumps({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": NS},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
                 "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"terminationGracePeriodSeconds": 2, "containers": [container]}}},
    }, indent=2)


SERVICE = (f"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: {NS}\nspec:\n  selector:\n"
           "    app: web\n  ports:\n    - port: 80\n      targetPort: http\n")
SECRET = (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {SECRET_NAME}\n  namespace: {NS}\n"
          f"stringData:\n  password: {SECRET_VALUE}\n")


@dataclass
class Env:
    daemon: Daemon
    kubectl: Kubectl
    work: Path
    commits: list[str]

    def write(self, rel: str, text: str) -> None:
        path = self.work / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def commit_and_push(self, message: str) -> str:
        git(self.work, "add", "-A")
        git(self.work, "commit", "-q", "-m", message)
        sha = git(self.work, "rev-parse", "HEAD").stdout.strip()
        push = git(self.work, "push", str(self.daemon.data_dir / "repo.git"), "HEAD:main")
        assert f"Synced {sha[:12]}" in push.stderr, push.stderr
        self.commits.append(sha)
        return sha

    def token(self, kubeconfig: Path) -> str:
        doc = yaml.safe_load(kubeconfig.read_text())
        return str(doc["users"][0]["user"]["token"])

    @property
    def url(self) -> str:
        return self.daemon.url


def artifacts() -> Path:
    base = Path(os.environ["GITKUBE_ARTIFACTS"]) if os.environ.get("GITKUBE_ARTIFACTS") else ROOT / "test-artifacts"
    out = base / "dashboard"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    data = tmp_path_factory.mktemp("dashboard") / "data"
    d = start_daemon(data, extra_args=DAEMON_ARGS)
    try:  # stop the daemon and its pods even when the setup fails
        k = Kubectl(d.kubeconfig, tmp_path_factory.mktemp("kc"), _kubectl_binary())
        wait_for(lambda: "Ready" in k.run("get", "node", "dash-node", check=False).stdout.split(), timeout=30,
                 what="dash-node Ready")
        work = tmp_path_factory.mktemp("work")
        git(work, "init", "-q", "-b", "main")
        git(work, "config", "user.email", "ada@example.com")
        git(work, "config", "user.name", "Ada Lovelace")
        e = Env(d, k, work, [])
        e.write("dash/namespace.yaml", f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {NS}\n")
        e.write("dash/web.yaml", deployment("v1"))
        e.write("dash/service.yaml", SERVICE)
        e.write("dash/secret.yaml", SECRET)
        e.commit_and_push("web v1 for the dashboard")
        yield e
    finally:
        stop_daemon(d)
        reap_containers(data)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install -y chromium` (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                                    "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def login(browser: Any, env: Env, kubeconfig: Path) -> Any:
    context = browser.new_context(ignore_https_errors=True, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    page.goto(f"{env.url}/ui/")
    assert "/ui/login" in page.url
    page.fill("#token", env.token(kubeconfig))
    page.click("#login")
    page.wait_for_url(f"{env.url}/ui/")
    return page


@pytest.fixture(scope="module")
def admin(browser: Any, env: Env) -> Iterator[Any]:
    page = login(browser, env, env.daemon.kubeconfig)
    yield page
    page.context.close()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(artifacts() / f"{name}.png"), full_page=True)


def test_a_wrong_token_is_refused(browser: Any, env: Env) -> None:
    context = browser.new_context(ignore_https_errors=True)
    page = context.new_page()
    page.goto(f"{env.url}/ui/login")
    page.fill("#token", "not-a-token")
    page.click("#login")
    page.wait_for_selector("#login-error")
    shot(page, "login")
    assert "/ui/login" in page.url
    assert page.context.cookies() == []
    context.close()


def test_overview_shows_the_synced_commit(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    first = env.commits[0]
    expect(admin.locator("#sync-state")).to_have_text("Synced")
    expect(admin.locator("#commit-sha")).to_have_text(first[:12])
    expect(admin.locator("#commit-subject")).to_have_text("web v1 for the dashboard")
    expect(admin.locator("#commit-author")).to_have_text("Ada Lovelace")
    expect(admin.locator("#branch")).to_have_text("main")
    expect(admin.locator("#last-outcome")).to_have_text("Synced")
    row = admin.locator(f'#health tr[data-object="Deployment.apps {NS}/web"] .badge')
    expect(row).to_have_text("Healthy")
    shot(admin, "overview")


def _pod_rows(page: Any, deployment: str) -> Any:
    return page.locator(f'.node:has(> .row[data-kind="Deployment"][data-name="{deployment}"]) .row[data-kind="Pod"]')


def test_object_tree_shows_ready_pods_in_green(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    admin.goto(f"{env.url}/ui/objects?ns={NS}")
    pods = _pod_rows(admin, "web")
    expect(pods).to_have_count(1)
    expect(pods.first).to_have_attribute("data-health", "Healthy")
    badge = pods.first.locator(".badge")
    expect(badge).to_have_text("Healthy")
    assert badge.evaluate("e => getComputedStyle(e).backgroundColor") == GREEN
    expect(pods.first.locator(".detail")).to_contain_text("1/1 ready")
    rs = admin.locator('.node:has(> .row[data-kind="Deployment"][data-name="web"]) .row[data-kind="ReplicaSet"]')
    expect(rs).to_have_count(1)
    service = admin.locator('.node:has(> .row[data-kind="Service"][data-name="web"])')
    expect(service.locator('.row[data-kind="Endpoints"]')).to_have_count(1)
    expect(service.locator('.row[data-kind="Pod"]')).to_have_count(1)
    shot(admin, "objects")


def test_a_kubectl_change_appears_without_a_reload(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    admin.evaluate("window.__noReload = 42")
    extra = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "extra", "namespace": NS},
             "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "extra"}},
                      "template": {"metadata": {"labels": {"app": "extra"}}, "spec": {
                          "terminationGracePeriodSeconds": 1,
                          "containers": [{"name": "sleep", "image": "python:3.11", "command": [
                              sys.executable, "-c", "import time; print('extra up', flush=True); time.sleep(3600)"]}]}}}}
    env.kubectl.run("apply", "-f", "-", input=json.dumps(extra))
    pods = _pod_rows(admin, "extra")
    expect(pods).to_have_count(1)
    env.kubectl.run("-n", NS, "scale", "deployment", "extra", "--replicas=2")
    expect(pods).to_have_count(2)
    expect(pods.nth(1)).to_have_attribute("data-health", "Healthy")
    assert admin.evaluate("window.__noReload") == 42, "the page was reloaded"
    shot(admin, "objects-live")


def test_events_are_listed_live(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    admin.goto(f"{env.url}/ui/events?ns={NS}")
    expect(admin.locator("#event-list tbody tr").first).not_to_have_text("no events")
    expect(admin.locator("#event-list")).to_contain_text("Deployment/web")
    admin.evaluate("window.__noReload = 7")
    env.kubectl.run("-n", NS, "scale", "deployment", "extra", "--replicas=1")
    expect(admin.locator("#event-list")).to_contain_text("Scaled down replica set extra")
    assert admin.evaluate("window.__noReload") == 7
    shot(admin, "events")


def test_pod_logs_stream_live(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    admin.goto(f"{env.url}/ui/objects?ns={NS}")
    _pod_rows(admin, "web").first.locator("a.logs").click()
    admin.wait_for_url(re.compile(r"/ui/logs/dash/web-"))
    log = admin.locator("#log")
    expect(log).to_contain_text("serving on")
    lines = log.locator(".logline")
    expect(lines.nth(2)).to_be_attached()
    before = lines.count()
    # the readiness probe is logged every second: new lines arrive on the open page
    expect(lines.nth(before + 1)).to_be_attached()
    expect(log).to_contain_text("request")
    shot(admin, "logs")


def _deployment_version(env: Env) -> str:
    dep = get_json(env.kubectl, "-n", NS, "deployment", "web")
    env_vars = dep["spec"]["template"]["spec"]["containers"][0]["env"]
    return str(next(v["value"] for v in env_vars if v["name"] == "VERSION"))


def test_history_rollback_changes_the_cluster(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    env.write("dash/web.yaml", deployment("v2"))
    second = env.commit_and_push("web v2")
    assert _deployment_version(env) == "v2"
    first = env.commits[0]
    admin.goto(f"{env.url}/ui/history")
    rows = admin.locator("#releases tbody tr")
    expect(rows).to_have_count(2)
    expect(admin.locator(f'#releases tr[data-commit="{second}"]')).to_contain_text("current")
    old = admin.locator(f'#releases tr[data-commit="{first}"]')
    expect(admin.locator(f'#releases tr[data-commit="{second}"] button.rollback')).to_have_count(0)
    shot(admin, "history")
    old.locator("button.rollback").click()
    expect(admin.locator("#progress-lines")).to_contain_text(f"syncing {first[:12]}")
    expect(admin.locator("#rollback-outcome")).to_have_text("Synced", timeout=90_000)
    assert admin.url.endswith("/ui/history"), "the rollback's progress is shown in place"
    assert _deployment_version(env) == "v1"
    wait_for(lambda: get_json(env.kubectl, "-n", NS, "deployment", "web")["status"].get("updatedReplicas") == 1,
             timeout=30, what="the v1 rollout")
    expect(rows).to_have_count(3)  # the rollback's own record, live
    shot(admin, "history-rolled-back")


def test_plan_shows_the_branch_head_against_the_cluster(admin: Any, env: Env) -> None:
    from playwright.sync_api import expect

    admin.goto(f"{env.url}/ui/plan")
    expect(admin.locator("#plan-state")).to_have_text("changes", timeout=60_000)
    result = admin.locator("#plan-result")
    expect(result).to_contain_text(f"Deployment.apps {NS}/web")
    expect(result.locator("pre.diff .add")).to_contain_text(["v2"])
    expect(admin.locator("#plan-totals")).to_contain_text("1 to update")
    shot(admin, "plan")


def test_read_only_sees_no_button_no_secret_and_cannot_act(browser: Any, env: Env) -> None:
    from playwright.sync_api import expect

    page = login(browser, env, env.daemon.readonly_kubeconfig)
    expect(page.locator("#role")).to_have_text("read-only")
    expect(page.locator("#sync-state")).not_to_be_empty()
    shot(page, "readonly-overview")
    seen = [page.content()]
    page.goto(f"{env.url}/ui/history")
    expect(page.locator("#releases tbody tr")).to_have_count(3)
    expect(page.locator("button.rollback")).to_have_count(0)
    shot(page, "readonly-history")
    seen.append(page.content())
    for path, ready in (("objects", "#objects .tree"), ("events", "#event-list"), ("plan", "#plan-result")):
        page.goto(f"{env.url}/ui/{path}")
        page.wait_for_selector(ready)
        seen.append(page.content())
    shot(page, "readonly-plan")
    for html in seen:
        assert SECRET_NAME not in html and SECRET_VALUE not in html
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content")
    reply = page.context.request.post(f"{env.url}/ui/rollback", form={"commit": env.commits[1], "csrf": csrf},
                                      headers={"Origin": env.url, "X-CSRF-Token": csrf})
    assert reply.status == 403, reply.text()
    assert _deployment_version(env) == "v1"
    # the admin does see the Secret's name (never its value) in the overview
    admin_page = login(browser, env, env.daemon.kubeconfig)
    expect(admin_page.locator("#health")).to_contain_text(SECRET_NAME)
    assert SECRET_VALUE not in admin_page.content()
    admin_page.context.close()
    page.context.close()


def test_artifacts_were_written() -> None:
    names = {p.name for p in artifacts().glob("*.png")}
    assert {"overview.png", "objects.png", "history.png", "plan.png", "logs.png", "events.png"} <= names, names
    assert shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)
