"""The Job controller: Jobs → pods run to completion, after kubernetes ``pkg/controller/job``.

``controller`` (informers, handlers, sync: counting, failure and completion verdicts,
creating and deleting pods, status, TTL after finished), ``pods`` (the pod a Job creates,
completion indexes, finish times, the ``completedIndexes`` format) and ``status``
(conditions, backoff-limit and deadline verdicts, retry back-off). Registered as ``job``
in :mod:`gitkube.controllers.manager`.
"""

from __future__ import annotations

from gitkube.controllers.job.controller import JobController

__all__ = ["JobController"]
