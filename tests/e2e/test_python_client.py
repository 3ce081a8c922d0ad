"""The official ``kubernetes`` Python package against a real ``gitkube up``."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

from tests.e2e.conftest import Daemon

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def api_client(daemon: Daemon) -> Iterator[client.ApiClient]:
    api = config.new_client_from_config(config_file=str(daemon.kubeconfig))
    yield api
    api.close()


@pytest.fixture
def ns(api_client: client.ApiClient) -> str:
    name = f"py-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    return name


def _cm(name: str, **data: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels={"app": "py"}), data=data)


def test_crud_and_conflict(api_client: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api_client)
    created = core.create_namespaced_config_map(ns, _cm("one", a="1"))
    assert created.metadata.resource_version and created.metadata.uid
    listed = core.list_namespaced_config_map(ns, label_selector="app=py")
    assert [c.metadata.name for c in listed.items] == ["one"]
    patched = core.patch_namespaced_config_map("one", ns, {"data": {"b": "2"}})
    assert patched.data == {"a": "1", "b": "2"}
    stale = created  # carries the old resourceVersion
    stale.data = {"c": "3"}
    with pytest.raises(ApiException) as err:
        core.replace_namespaced_config_map("one", ns, stale)
    assert err.value.status == 409
    fresh = core.read_namespaced_config_map("one", ns)
    fresh.data = {"c": "3"}
    replaced = core.replace_namespaced_config_map("one", ns, fresh)
    assert replaced.data == {"c": "3"}
    assert int(replaced.metadata.resource_version) > int(fresh.metadata.resource_version)
    core.delete_namespaced_config_map("one", ns)
    with pytest.raises(ApiException) as err:
        core.read_namespaced_config_map("one", ns)
    assert err.value.status == 404


def test_apps_create_and_patch(api_client: client.ApiClient, ns: str) -> None:
    apps = client.AppsV1Api(api_client)
    body = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
        "spec": {"selector": {"matchLabels": {"app": "api"}},
                 "template": {"metadata": {"labels": {"app": "api"}},
                              "spec": {"containers": [{"name": "c", "image": "x:1"}]}}},
    }
    dep = apps.create_namespaced_deployment(ns, body)
    assert dep.spec.replicas == 1 and dep.spec.strategy.type == "RollingUpdate"
    scaled = apps.patch_namespaced_deployment_scale("api", ns, {"spec": {"replicas": 3}})
    assert scaled.spec.replicas == 3
    assert apps.read_namespaced_deployment("api", ns).metadata.generation == 2


def test_watch_resume_and_gone(api_client: client.ApiClient, ns: str) -> None:
    core = client.CoreV1Api(api_client)
    start_rv = core.list_namespaced_config_map(ns).metadata.resource_version
    core.create_namespaced_config_map(ns, _cm("w1", a="1"))
    core.patch_namespaced_config_map("w1", ns, {"data": {"a": "2"}})
    core.delete_namespaced_config_map("w1", ns)
    events = []
    w = watch.Watch()
    for event in w.stream(core.list_namespaced_config_map, ns, resource_version=start_rv, timeout_seconds=5):
        events.append((event["type"], event["object"].metadata.name))
        if len(events) == 3:
            w.stop()
    assert events == [("ADDED", "w1"), ("MODIFIED", "w1"), ("DELETED", "w1")]

    # live events arrive on an open watch
    seen: list[str] = []
    ready = threading.Event()

    def follow() -> None:
        w2 = watch.Watch()
        rv = core.list_namespaced_config_map(ns).metadata.resource_version
        ready.set()
        for event in w2.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
            seen.append(event["object"].metadata.name)
            w2.stop()

    t = threading.Thread(target=follow)
    t.start()
    assert ready.wait(10)
    core.create_namespaced_config_map(ns, _cm("w2"))
    t.join(15)
    assert seen == ["w2"]


def test_watch_and_list_gone_after_compaction(tmp_path) -> None:
    """A daemon that keeps 5 revisions of history and compacts every second answers an old
    resourceVersion with 410 Expired: as an ERROR event on a watch, as a Status on a list
    continue, exactly what informers rely on to re-list."""
    from tests.e2e.conftest import start_daemon, stop_daemon

    d = start_daemon(tmp_path / "data", extra_args=["--history", "5", "--compaction-interval", "1s", "--no-local-node",
                                                        "--service-cidr", "127.98.0.0/16"])
    try:
        api = config.new_client_from_config(config_file=str(d.kubeconfig))
        core = client.CoreV1Api(api)
        first_rv = core.list_namespaced_config_map("default").metadata.resource_version
        for i in range(10):
            core.create_namespaced_config_map("default", _cm(f"c{i}"))
        page = core.list_namespaced_config_map("default", limit=5)
        assert page.metadata._continue
        for i in range(10, 30):  # move the history window past the page's revision
            core.create_namespaced_config_map("default", _cm(f"c{i}"))

        def watch_from_first() -> int | None:
            try:
                for _event in watch.Watch().stream(core.list_namespaced_config_map, "default",
                                                   resource_version=first_rv, timeout_seconds=1):
                    pass
            except ApiException as exc:
                return exc.status
            return None

        from tests.e2e.test_kubectl import wait_for

        assert wait_for(watch_from_first, timeout=20, what="history compaction") == 410
        with pytest.raises(ApiException) as err:
            core.list_namespaced_config_map("default", limit=5, _continue=page.metadata._continue)
        assert err.value.status == 410
        api.close()
    finally:
        stop_daemon(d)
