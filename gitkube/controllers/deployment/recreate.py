"""The Recreate strategy (kubernetes ``recreate.go``).

Scale every old ReplicaSet to zero; wait until none of their pods is left running (any pod
of an old ReplicaSet not Succeeded or Failed counts, so does an old ReplicaSet still
reporting replicas); only then create the new ReplicaSet at full size. Never both old and
new pods at once. Called by ``controller``.
"""

from __future__ import annotations

from gitkube.controllers.deployment import conditions as cond
from gitkube.controllers.deployment import progress, sync, util
from gitkube.controllers.deployment.sync import Env
from gitkube.controllers.deployment.util import Obj

__all__ = ["old_pods_running", "rollout_recreate"]


def old_pods_running(new: Obj | None, olds: list[Obj], pod_map: dict[str, list[Obj]]) -> bool:
    """Whether any old ReplicaSet still reports replicas or owns a pod that is not finished."""
    if util.status_replicas(olds) > 0:
        return True
    new_uid = new["metadata"].get("uid") if new is not None else None
    for rs_uid, pods in pod_map.items():
        if rs_uid == new_uid:
            continue
        for pod in pods:
            if (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed"):
                return True
    return False


async def rollout_recreate(env: Env, d: Obj, rss: list[Obj], pod_map: dict[str, list[Obj]]) -> None:
    new, olds = await sync.get_all_rss_and_sync_revision(env, d, rss, False)
    all_rss: list[Obj | None] = [*olds, new]
    scaled_down = False
    for rs in util.active(olds):
        scaled, _ = await sync.scale_rs_and_record(env, rs, 0, d)
        scaled_down = scaled_down or scaled
    if scaled_down or old_pods_running(new, olds, pod_map):
        await progress.sync_rollout_status(env, all_rss, new, d)
        return
    if new is None:
        new, olds = await sync.get_all_rss_and_sync_revision(env, d, rss, True)
        all_rss = [*olds, new]
    assert new is not None
    await sync.scale_rs_and_record(env, new, util.spec_replicas(d), d)
    if cond.deployment_complete(d, d.get("status") or {}):
        await sync.cleanup(env, olds, d)
    await progress.sync_rollout_status(env, all_rss, new, d)
