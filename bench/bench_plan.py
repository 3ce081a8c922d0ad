"""Benchmark of the plan on 10,000 objects; prints one JSON object.

    python bench/bench_plan.py [--objects 10000] [--rounds 5] [--profile]

The desired set is ``--objects`` manifests, a quarter each of Deployments (one container with
env, ports, resources and a probe), Services, ConfigMaps and Secrets (``stringData``). The live
set is what gitkube's API server returns after gitkube's server-side apply of each: one object
per kind goes through the server's real write path (``server_side_apply``, create preparation,
defaulting and validation), the Deployment also gets the deployment controller's revision
annotation and status (with their managedFields entries); the rest are renamed copies with their
own uid and resourceVersion.

Measures ``make_plan`` with every object in sync and with one object changed (an image), the
median and best of ``--rounds`` runs each, after one warm-up plan (which loads the schemas).
``--profile`` adds the top functions of a cProfile run of the in-sync plan.
"""

from __future__ import annotations

import argparse
import base64
import copy
import cProfile
import io
import json
import pstats
import statistics
import time
from typing import Any

from gitkube.api.objectkey import ObjectKey
from gitkube.api.scheme import by_kind
from gitkube.apiserver import admission
from gitkube.apiserver.patch.apply import server_side_apply, track_update
from gitkube.plan import Desired, make_plan, stamp

__all__ = ["build", "main", "run"]

NOW = "2025-01-01T00:00:00Z"


def _templates(name: str, ns: str) -> list[dict[str, Any]]:
    labels = {"app": name, "tier": "web"}
    return [
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"replicas": 2, "selector": {"matchLabels": labels},
                  "template": {"metadata": {"labels": labels}, "spec": {"containers": [{
                      "name": "app", "image": f"registry.example.com/{name}:1.4.2",
                      "args": ["--port", "8080"], "ports": [{"containerPort": 8080, "name": "http"}],
                      "env": [{"name": "MODE", "value": "prod"}, {"name": "APP", "value": name}],
                      "resources": {"requests": {"cpu": "0.1", "memory": "128Mi"}, "limits": {"memory": "0.25Gi"}},
                      "readinessProbe": {"httpGet": {"path": "/healthz", "port": 8080}}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns, "labels": labels},
         "spec": {"selector": labels, "ports": [{"name": "http", "port": 80, "targetPort": 8080}]}},
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"{name}-config", "namespace": ns},
         "data": {"app.properties": f"name={name}\nlevel=info\n", "feature": "on"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{name}-db", "namespace": ns},
         "type": "Opaque", "stringData": {"password": f"pw-{name}", "user": "app"}},
    ]


def _server_create(desired: dict[str, Any], n: int) -> dict[str, Any]:
    """What the API server stores for a server-side apply create by gitkube (plus controllers)."""
    info = by_kind(desired["apiVersion"], desired["kind"])
    assert info is not None
    live = server_side_apply(None, copy.deepcopy(desired), manager="gitkube", force=True,
                             api_version=info.api_version, kind=info.kind, now=NOW)
    meta = live["metadata"]
    meta.update(uid=f"00000000-0000-4000-8000-{n:012d}", creationTimestamp=NOW, resourceVersion=str(1000 + n))
    if info.spec_fields:
        meta["generation"] = 1
    admission.prepare_for_create(info, live)
    admission.default_and_validate(info, live, None)
    if info.kind == "Service":
        ip = f"10.96.{n // 250 % 250}.{n % 250 + 1}"
        live["spec"].update(clusterIP=ip, clusterIPs=[ip], ipFamilies=["IPv4"], ipFamilyPolicy="SingleStack")
    if info.kind == "Deployment":
        old = copy.deepcopy(live)
        live["metadata"].setdefault("annotations", {})["deployment.kubernetes.io/revision"] = "1"
        track_update(old, live, manager="kube-controller-manager", api_version=info.api_version,
                     kind=info.kind, now=NOW)
        old = copy.deepcopy(live)
        live["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2,
                          "availableReplicas": 2, "conditions": [
                              {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                               "lastUpdateTime": NOW, "lastTransitionTime": NOW, "message": "ok"},
                              {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                               "lastUpdateTime": NOW, "lastTransitionTime": NOW, "message": "ok"}]}
        track_update(old, live, manager="kube-controller-manager", api_version=info.api_version,
                     kind=info.kind, now=NOW, subresource="status")
    return live


def _rename(obj: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """A copy of ``obj`` with every occurrence of the app name replaced (names, labels, values)."""
    text = json.dumps(obj).replace(old, new)
    out: dict[str, Any] = json.loads(text)
    return out


def build(count: int) -> tuple[list[Desired], dict[ObjectKey, dict[str, Any]]]:
    desired: list[Desired] = []
    live: dict[ObjectKey, dict[str, Any]] = {}
    base = "appzz0"
    templates = _templates(base, "ns-0")
    stamped = [stamp(t, f"apps/{base}.yaml:{i * 20 + 1}:1") for i, t in enumerate(templates)]
    lives = [_server_create(s, i) for i, s in enumerate(stamped)]
    for n in range(count // len(templates) + 1):
        name = f"app{n:05d}"
        ns = f"ns-{n % 20}"
        for i, template in enumerate(templates):
            if len(desired) >= count:
                break
            d = _rename(template, base, name)
            d["metadata"]["namespace"] = ns
            lv = _rename(lives[i], base, name)
            lv["metadata"]["namespace"] = ns
            if d["kind"] == "Secret":  # the base64 of renamed values is not a rename of the base64
                lv["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in d["stringData"].items()}
            lv["metadata"]["uid"] = f"00000000-0000-4000-8000-{len(desired):012d}"
            desired.append(Desired(d, f"apps/{name}.yaml:{i * 20 + 1}:1"))
            live[ObjectKey.of(stamp(d, ""))] = lv
    return desired, live


def _time(fn: Any, rounds: int) -> dict[str, float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 4), "best_s": round(min(times), 4)}


def run(count: int, rounds: int, profile: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    desired, live = build(count)
    built = time.perf_counter() - t0
    inventory = set(live)
    t0 = time.perf_counter()
    first = make_plan(desired, live, inventory)
    first_s = time.perf_counter() - t0
    assert first.in_sync, [c for c in first.changes if c.action != "unchanged"][:1]

    changed = list(desired)
    target = next(i for i, d in enumerate(changed) if d.obj["kind"] == "Deployment")
    obj = copy.deepcopy(changed[target].obj)
    obj["spec"]["template"]["spec"]["containers"][0]["image"] = "registry.example.com/app:9.9.9"
    changed[target] = Desired(obj, changed[target].source)
    one = make_plan(changed, live, inventory)
    updates = [c for c in one.changes if c.action == "update"]
    assert len(updates) == 1 and [f.path for f in updates[0].fields] == ["spec.template.spec.containers[name=app].image"]

    result: dict[str, Any] = {
        "objects": count,
        "mix": "1/4 each Deployment, Service, ConfigMap, Secret",
        "build_inputs_s": round(built, 3),
        "first_plan_incl_schema_load_s": round(first_s, 4),
        "make_plan_in_sync": _time(lambda: make_plan(desired, live, inventory), rounds),
        "make_plan_one_change": _time(lambda: make_plan(changed, live, inventory), rounds),
        "goal_make_plan_s": 0.3,
    }
    if profile:
        prof = cProfile.Profile()
        prof.enable()
        make_plan(desired, live, inventory)
        prof.disable()
        out = io.StringIO()
        pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(12)
        result["profile_top"] = [line.strip() for line in out.getvalue().splitlines() if "(" in line][:14]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    print(json.dumps(run(args.objects, args.rounds, args.profile), indent=2))


if __name__ == "__main__":
    main()
