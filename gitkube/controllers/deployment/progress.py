"""Rollout progress: the Progressing condition and the progress deadline (kubernetes ``progress.go``).

``sync_rollout_status`` ends every strategy step: it writes the status ``calculate_status``
gives, plus a Progressing condition saying whether the new ReplicaSet is available
(``NewReplicaSetAvailable``), still moving (``ReplicaSetUpdated``) or stuck for longer than
``progressDeadlineSeconds`` (``False``/``ProgressDeadlineExceeded``, which makes ``kubectl
rollout status`` fail). A ReplicaFailure condition of a ReplicaSet is copied over. When
nothing changed it re-queues the deployment for the moment its deadline would pass.

``check_paused_conditions`` records ``DeploymentPaused`` / ``DeploymentResumed``.
Time comes from ``Env.clock``. Called by ``controller``, ``rolling`` and ``recreate``.
"""

from __future__ import annotations

import datetime as dt

from gitkube.api import meta
from gitkube.controllers.deployment import conditions as cond
from gitkube.controllers.deployment.sync import Env, write_status
from gitkube.controllers.deployment.util import Obj

__all__ = ["check_paused_conditions", "requeue_stuck_deployment", "sync_rollout_status"]


def _replica_failures(all_rss: list[Obj | None], new: Obj | None) -> list[dict[str, str]]:
    def failures(rs: Obj | None) -> list[dict[str, str]]:
        out = []
        for c in ((rs or {}).get("status") or {}).get("conditions") or []:
            if c.get("type") == cond.REPLICA_FAILURE:
                stamp = str(c.get("lastTransitionTime") or "")
                out.append({"type": cond.REPLICA_FAILURE, "status": str(c.get("status", "")), "lastUpdateTime": stamp,
                            "lastTransitionTime": stamp, "reason": str(c.get("reason", "")),
                            "message": str(c.get("message", ""))})
        return out

    return failures(new) or [f for rs in all_rss for f in failures(rs)]


async def sync_rollout_status(env: Env, all_rss: list[Obj | None], new: Obj | None, d: Obj) -> None:
    now = env.clock()
    status = cond.calculate_status(all_rss, new, d, now)
    if not cond.has_progress_deadline(d):
        cond.remove_condition(status, cond.PROGRESSING)
    current = cond.get_condition(d.get("status"), cond.PROGRESSING)
    complete_already = (int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
                        and current is not None and current.get("reason") == cond.NEW_RS_AVAILABLE)
    name = d["metadata"]["name"]
    subject = f'ReplicaSet "{new["metadata"]["name"]}"' if new is not None else f'Deployment "{name}"'
    if cond.has_progress_deadline(d) and not complete_already:
        if cond.deployment_complete(d, status):
            cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "True", cond.NEW_RS_AVAILABLE,
                                                          f"{subject} has successfully progressed.", now))
        elif cond.deployment_progressing(d, status):
            update = cond.new_condition(cond.PROGRESSING, "True", cond.RS_UPDATED, f"{subject} is progressing.", now)
            if current is not None:
                # Progress refreshes lastUpdateTime even when the reason stays the same.
                if current.get("status") == "True":
                    update["lastTransitionTime"] = str(current.get("lastTransitionTime") or update["lastTransitionTime"])
                cond.remove_condition(status, cond.PROGRESSING)
            cond.set_condition(status, update)
        elif cond.deployment_timed_out(d, status, now):
            cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "False", cond.TIMED_OUT,
                                                          f"{subject} has timed out progressing.", now))
    failures = _replica_failures(all_rss, new)
    if failures:
        cond.set_condition(status, failures[0])
    else:
        cond.remove_condition(status, cond.REPLICA_FAILURE)
    if status == (d.get("status") or {}):
        requeue_stuck_deployment(env, d, status, now)
        return
    d["status"] = status
    await write_status(env, d)


def requeue_stuck_deployment(env: Env, d: Obj, status: Obj, now: dt.datetime) -> float:
    """Re-queue a rollout that made no progress for when its deadline passes; returns the delay
    (-1 when no check is needed)."""
    current = cond.get_condition(d.get("status"), cond.PROGRESSING)
    if not cond.has_progress_deadline(d) or current is None:
        return -1.0
    if cond.deployment_complete(d, status) or current.get("reason") == cond.TIMED_OUT:
        return -1.0
    stamp = current.get("lastUpdateTime")
    if not stamp:
        return -1.0
    deadline = meta.parse_time(str(stamp)) + dt.timedelta(seconds=int(d["spec"]["progressDeadlineSeconds"]))
    after = (deadline - now).total_seconds()
    if after < 1.0:
        env.requeue_after(d, 0.0)
        return 0.0
    env.requeue_after(d, after + 1.0)
    return after


async def check_paused_conditions(env: Env, d: Obj) -> None:
    """Record that the deployment was paused or resumed (unless it already timed out)."""
    if not cond.has_progress_deadline(d):
        return
    status = d.setdefault("status", {})
    current = cond.get_condition(status, cond.PROGRESSING)
    if current is not None and current.get("reason") == cond.TIMED_OUT:
        return
    paused_recorded = current is not None and current.get("reason") == cond.PAUSED
    paused = bool((d.get("spec") or {}).get("paused"))
    if paused and not paused_recorded:
        cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "Unknown", cond.PAUSED,
                                                      "Deployment is paused", env.clock()))
    elif not paused and paused_recorded:
        cond.set_condition(status, cond.new_condition(cond.PROGRESSING, "Unknown", cond.RESUMED,
                                                      "Deployment is resumed", env.clock()))
    else:
        return
    await write_status(env, d)
