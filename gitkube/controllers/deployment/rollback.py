"""Rollback through the deprecated ``deprecated.deployment.rollback.to`` annotation (kubernetes
``rollback.go``), what apps/v1 keeps of ``spec.rollbackTo``.

``kubectl rollout undo`` does not use it (it patches the template back itself, and the
new-ReplicaSet lookup in ``sync`` then finds the old ReplicaSet by template), but a client
that sets the annotation gets Kubernetes' behaviour: the template and annotations of the
ReplicaSet with that revision (0: the previous one) are copied into the deployment, a
``DeploymentRollback`` event is recorded, and the annotation is cleared in the same update.
Called by ``controller``.
"""

from __future__ import annotations

import copy

from gitkube.api import labels
from gitkube.controllers.deployment import sync, util
from gitkube.controllers.deployment.sync import Env
from gitkube.controllers.deployment.util import Obj

__all__ = ["ROLLBACK_TO", "rollback", "rollback_to"]

ROLLBACK_TO = "deprecated.deployment.rollback.to"


def rollback_to(d: Obj) -> int | None:
    """The revision asked for, or None when no (valid) rollback is requested."""
    text = (((d.get("metadata") or {}).get("annotations")) or {}).get(ROLLBACK_TO, "")
    try:
        return int(text) if text else None
    except ValueError:
        return None


async def _update_and_clear(env: Env, d: Obj) -> None:
    util.annotations_of(d).pop(ROLLBACK_TO, None)
    stored = await env.client.update(sync.DEPLOYMENTS, d)
    d["metadata"] = stored["metadata"]


async def rollback(env: Env, d: Obj, rss: list[Obj]) -> None:
    new, olds = await sync.get_all_rss_and_sync_revision(env, d, rss, True)
    all_rss = [rs for rs in [*olds, new] if rs is not None]
    target = rollback_to(d) or 0
    if target == 0:
        target = util.last_revision(all_rss)
        if target == 0:
            env.events.record(d, "Warning", "RollbackRevisionNotFound", "Unable to find last revision.")
            await _update_and_clear(env, d)
            return
    for rs in all_rss:
        if util.revision(rs) != target:
            continue
        template = (rs.get("spec") or {}).get("template") or {}
        if util.equal_ignore_hash((d.get("spec") or {}).get("template"), template):
            env.events.record(d, "Warning", "RollbackTemplateUnchanged",
                              f'The rollback revision contains the same template as current deployment "{d["metadata"]["name"]}"')
            await _update_and_clear(env, d)
            return
        restored = copy.deepcopy(template)
        rs_labels = (restored.get("metadata") or {}).get("labels")
        if isinstance(rs_labels, dict):
            rs_labels.pop(labels.LABEL_POD_TEMPLATE_HASH, None)
        d["spec"]["template"] = restored
        anns = util.annotations_of(d)
        kept = {k: v for k, v in anns.items() if util.skip_copy_annotation(k)}
        kept.update({k: v for k, v in util.annotations_of(rs).items() if not util.skip_copy_annotation(k)})
        d["metadata"]["annotations"] = kept
        await _update_and_clear(env, d)
        env.events.record(d, "Normal", "DeploymentRollback",
                          f'Rolled back deployment "{d["metadata"]["name"]}" to revision {target}')
        return
    env.events.record(d, "Warning", "RollbackRevisionNotFound", "Unable to find the revision to rollback to.")
    await _update_and_clear(env, d)
