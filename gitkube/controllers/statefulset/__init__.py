"""The StatefulSet controller: stable pod names and storage, ordered or parallel pod management,
rolling updates with a partition, revisions as ControllerRevisions.

``controller`` holds :class:`StatefulSetController` (informers, claiming, revisions, status),
``control`` one sync step's pod and claim actions, ``identity`` the pure naming/storage/revision
helpers and ``status`` the status arithmetic. Started by ``gitkube.controllers.manager``.
"""

from gitkube.controllers.statefulset.controller import StatefulSetController

__all__ = ["StatefulSetController"]
