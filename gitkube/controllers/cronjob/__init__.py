"""The CronJob controller: CronJobs → Jobs on a schedule, after kubernetes
``pkg/controller/cronjob``.

``controller`` (informers, the active list, starting due Jobs under the concurrency policy,
history limits, status) and ``schedule`` (parsing schedules and time zones with croniter,
the most recent unmet run time, Job names). Registered as ``cronjob`` in
:mod:`gitkube.controllers.manager`.
"""

from __future__ import annotations

from gitkube.controllers.cronjob.controller import CronJobController

__all__ = ["CronJobController"]
