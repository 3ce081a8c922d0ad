"""The scheduler cache (incremental sums, assumed pods) and the scheduling queue."""

from __future__ import annotations

import asyncio

from gitkube.scheduler.cache import SchedulerCache
from gitkube.scheduler.nodeinfo import PodInfo
from gitkube.scheduler.queue import SchedulingQueue

from .builders import node, pod


def test_cache_sums_follow_pod_events() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1", cpu="4"))
    a = pod("a", cpu="1", node_name="n1", host_ports=[80], owner="rs")
    cache.add_pod(a)
    info = cache.nodes["n1"]
    assert (info.requested.milli_cpu, len(info.pods), info.owner_counts, list(info.used_ports)) == (
        1000, 1, {"rs": 1}, [("0.0.0.0", "TCP", 80)])
    bigger = pod("a", cpu="2", node_name="n1", owner="rs")
    cache.update_pod(a, bigger)
    assert (info.requested.milli_cpu, len(info.pods), info.used_ports) == (2000, 1, {})
    done = pod("a", cpu="2", node_name="n1", owner="rs")
    done["status"] = {"phase": "Succeeded"}
    cache.update_pod(bigger, done)
    assert (info.requested.milli_cpu, len(info.pods), info.owner_counts) == (0, 0, {})


def test_assume_confirm_and_forget() -> None:
    cache = SchedulerCache()
    cache.set_node(node("n1"))
    p = pod("a", cpu="1")
    cache.assume(PodInfo.of(p), "n1")
    assert cache.is_assumed("uid-a") and cache.nodes["n1"].requested.milli_cpu == 1000
    cache.add_pod(p)  # an update of the pod still without a node keeps the assumption
    assert cache.is_assumed("uid-a")
    cache.forget("uid-a")
    assert not cache.is_assumed("uid-a") and cache.nodes["n1"].requested.milli_cpu == 0
    cache.assume(PodInfo.of(p), "n1")
    cache.add_pod(pod("a", cpu="1", node_name="n1"))  # the informer sees the binding
    assert not cache.is_assumed("uid-a") and cache.nodes["n1"].requested.milli_cpu == 1000
    cache.forget("uid-a")  # confirmed pods are not forgotten
    assert cache.nodes["n1"].requested.milli_cpu == 1000
    assert cache.remove_pod(p) and cache.nodes["n1"].requested.milli_cpu == 0


def test_node_list_skips_deleting_and_pod_only_nodes() -> None:
    cache = SchedulerCache()
    cache.add_pod(pod("a", node_name="ghost"))
    cache.set_node(node("n1"))
    gone = node("n2")
    gone["metadata"]["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    cache.set_node(gone)
    assert [n.name for n in cache.node_list()] == ["n1"]
    cache.remove_node(node("n1"))
    assert cache.node_list() == [] and "n1" not in cache.nodes


async def test_queue_priority_order_and_dedup() -> None:
    q = SchedulingQueue()
    q.add("ns/low")
    q.add("ns/high", priority=10)
    q.add("ns/low")
    assert [(await q.pop())[0], (await q.pop())[0]] == ["ns/high", "ns/low"]
    assert not q._heap


async def test_unschedulable_pods_come_back_after_backoff_or_on_move() -> None:
    q = SchedulingQueue(backoff_base=0.05, backoff_cap=0.2)
    q.add("ns/a")
    key, cycle = await q.pop()
    q.unschedulable(key, cycle)
    assert q.is_unschedulable(key)
    started = asyncio.get_running_loop().time()
    assert (await asyncio.wait_for(q.pop(), 1))[0] == key
    assert asyncio.get_running_loop().time() - started >= 0.04
    q.unschedulable(key, q.moves)
    assert q.backoff_for(key) == 0.1
    q.move_all()
    assert (await asyncio.wait_for(q.pop(), 0.05))[0] == key  # at once, not after the backoff


async def test_a_move_during_the_cycle_retries_at_once() -> None:
    q = SchedulingQueue(backoff_base=10)
    q.add("ns/a")
    key, cycle = await q.pop()
    q.move_all()  # a node appeared while the pod was being scheduled
    q.unschedulable(key, cycle)
    assert (await asyncio.wait_for(q.pop(), 0.05))[0] == key


async def test_status_only_updates_do_not_retry_and_deletes_forget() -> None:
    q = SchedulingQueue(backoff_base=10)
    q.add("ns/a")
    key, cycle = await q.pop()
    q.unschedulable(key, cycle)
    old = pod("a")
    status_only = {**old, "status": {"conditions": [{"type": "PodScheduled", "status": "False"}]}}
    q.update(key, old, status_only)
    assert q.is_unschedulable(key)
    relabelled = {**old, "metadata": {**old["metadata"], "labels": {"x": "y"}}}
    q.update(key, old, relabelled)
    assert not q.is_unschedulable(key)
    q.delete(key)
    q.add("ns/b")
    assert (await q.pop())[0] == "ns/b"
    q.close()
