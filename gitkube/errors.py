"""The one exception tree of gitkube.

Every error gitkube raises on purpose derives from :class:`GitkubeError`. Each layer has
its own branch, so callers can catch exactly what they can handle::

    GitkubeError
    ├── ConfigError                 bad command-line or data-dir configuration
    ├── SourceError                 git: not a repository, unknown rev, unreadable commit, failed fetch
    ├── Rejected                    pre-flight refused a commit (exit 2); carries every problem
    │   └── ManifestError           YAML/schema/duplicate problems, each naming file:line:column
    ├── SyncError                   a sync could not be carried out
    ├── StoreError                  the store itself failed (I/O, corruption)
    ├── RuntimeFailure              a container could not be started or supervised (carries a reason)
    └── APIError                    a Kubernetes API error; carries an HTTP code and a reason
        ├── BadRequest        400
        ├── Unauthorized      401
        ├── Forbidden         403
        ├── NotFound          404
        ├── MethodNotAllowed  405
        ├── AlreadyExists     409
        ├── Conflict          409
        ├── Gone              410   (a watch or list resourceVersion that was compacted)
        ├── RequestTooLarge   413
        ├── UnsupportedMediaType 415
        ├── Invalid           422   (carries field causes)
        └── InternalError     500

``APIError.to_status()`` renders the Kubernetes ``Status`` body that kubectl reads
(KUBECTL-COMPAT.md §4). The API server turns any APIError into that body; clients of the
API turn a Status body back into the matching class with :func:`from_status`.
Cancellation and shutdown are not errors and never use this tree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

__all__ = [
    "APIError",
    "AlreadyExists",
    "BadRequest",
    "Cause",
    "ConfigError",
    "Conflict",
    "Forbidden",
    "GitkubeError",
    "Gone",
    "InternalError",
    "ManifestError",
    "Invalid",
    "MethodNotAllowed",
    "NotFound",
    "Rejected",
    "RequestTooLarge",
    "RuntimeFailure",
    "SourceError",
    "StoreError",
    "SyncError",
    "Unauthorized",
    "UnsupportedMediaType",
    "from_status",
]


class GitkubeError(Exception):
    """Root of every deliberate gitkube error."""


class ConfigError(GitkubeError):
    """A bad flag, data directory or configuration file."""


class SourceError(GitkubeError):
    """A git repository problem: not a repository, a rev that does not resolve, an unreadable
    commit, a failed fetch. The message names the repository, rev or commit."""


class Rejected(GitkubeError):
    """Pre-flight refused a commit: nothing of it is applied (``gitkube diff`` exits 2, a push is
    refused). Carries every problem found, not just the first, each a line of its own."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(self.problems) if self.problems else "rejected by pre-flight")


class ManifestError(Rejected):
    """Manifests that cannot become a desired state: each problem names file:line:column and,
    where there is one, the field path."""


class SyncError(GitkubeError):
    """A sync could not be carried out (an apply the server refused, health never reached)."""


class StoreError(GitkubeError):
    """The store could not do its job (I/O error, corrupt database)."""


class RuntimeFailure(GitkubeError):
    """A container could not be started or supervised. ``reason`` is the Kubernetes-style
    reason the pod status shows (``ContainerCannotRun``, ``CreateContainerError`` ...)."""

    def __init__(self, message: str, *, reason: str = "ContainerCannotRun") -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


@dataclass(frozen=True)
class Cause:
    """One reason inside a Status: a field path and what is wrong with it."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"

    def to_dict(self) -> dict[str, str]:
        return {"reason": self.reason, "message": self.message, "field": self.field}


class APIError(GitkubeError):
    """A Kubernetes API error with an HTTP code, a reason and an optional detail block."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        group: str = "",
        causes: list[Cause] | None = None,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group
        self.causes = list(causes or [])
        self.retry_after = retry_after

    def to_status(self) -> dict[str, Any]:
        """The ``v1.Status`` body for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = [c.to_dict() for c in self.causes]
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            status["details"] = details
        return status


class BadRequest(APIError):
    code = 400
    reason = "BadRequest"


class Unauthorized(APIError):
    code = 401
    reason = "Unauthorized"


class Forbidden(APIError):
    code = 403
    reason = "Forbidden"


class NotFound(APIError):
    code = 404
    reason = "NotFound"


class MethodNotAllowed(APIError):
    code = 405
    reason = "MethodNotAllowed"


class AlreadyExists(APIError):
    code = 409
    reason = "AlreadyExists"


class Conflict(APIError):
    code = 409
    reason = "Conflict"


class Gone(APIError):
    code = 410
    reason = "Expired"


class RequestTooLarge(APIError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(APIError):
    code = 415
    reason = "UnsupportedMediaType"


class Invalid(APIError):
    code = 422
    reason = "Invalid"


class InternalError(APIError):
    code = 500
    reason = "InternalError"


_BY_REASON: dict[str, type[APIError]] = {
    cls.reason: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        AlreadyExists,
        Conflict,
        Gone,
        RequestTooLarge,
        UnsupportedMediaType,
        Invalid,
        InternalError,
    )
}
_BY_REASON["Gone"] = Gone


@dataclass
class _StatusView:
    message: str = ""
    reason: str = ""
    code: int = 500
    details: dict[str, Any] = field(default_factory=dict)


def from_status(status: dict[str, Any]) -> APIError:
    """Turn a ``v1.Status`` body back into the matching :class:`APIError`."""
    view = _StatusView(
        message=str(status.get("message", "")),
        reason=str(status.get("reason", "")),
        code=int(status.get("code", 500) or 500),
        details=dict(status.get("details") or {}),
    )
    cls = _BY_REASON.get(view.reason)
    if cls is None:
        cls = next((c for c in _BY_REASON.values() if c.code == view.code), InternalError)
    causes = [
        Cause(field=c.get("field", ""), message=c.get("message", ""), reason=c.get("reason", ""))
        for c in view.details.get("causes", [])
    ]
    return cls(
        view.message,
        kind=str(view.details.get("kind", "")),
        name=str(view.details.get("name", "")),
        group=str(view.details.get("group", "")),
        causes=causes,
    )
