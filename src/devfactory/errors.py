"""The one exception tree of devfactory, split by what the caller can do about it.

::

    DevfactoryError
    ├── UserError                    the user can fix it: a flag, a file, a setting
    │   ├── ConfigError              a setting from the environment is wrong
    │   ├── FormulaError             a Notion formula expression cannot be parsed or typed
    │   ├── SpecError                a workspace spec is invalid (every issue, with file:line:col)
    │   ├── StateLockedError         another apply holds the state lock
    │   ├── PlanError                a plan cannot be made or applied (stale plan, refused change)
    │   ├── TargetError              the Notion target cannot do what the spec asks
    │   ├── PolicyError              a gate policy file is invalid (every issue, with file:line:col)
    │   └── ApprovalError            an approval cannot be reviewed or used (unknown, expired, done)
    ├── NotionError                  a Notion API (real or local) refused a request
    │   │                            (``status`` and ``code`` as Notion sends them)
    │   ├── InvalidJSONError              400 invalid_json
    │   ├── InvalidRequestURLError        400 invalid_request_url
    │   ├── InvalidRequestError           400 invalid_request
    │   ├── NotionValidationError         400 validation_error
    │   ├── MissingVersionError           400 missing_version
    │   ├── UnauthorizedError             401 unauthorized
    │   ├── RestrictedResourceError       403 restricted_resource
    │   ├── ObjectNotFoundError           404 object_not_found
    │   ├── ConflictError                 409 conflict_error
    │   ├── PayloadTooLargeError          413 (oversized body, Notion answers 413)
    │   └── TransientNotionError          may succeed when retried
    │       ├── RateLimitedError              429 rate_limited (``retry_after`` seconds)
    │       ├── InternalServerError           500 internal_server_error
    │       ├── ServiceUnavailableError       503 service_unavailable
    │       └── GatewayTimeoutError           504 gateway_timeout
    └── InternalError                a bug in devfactory; never the user's fault

The local Notion server raises the ``NotionError`` subclasses and turns them into Notion's
error body in one place; clients of the real API map Notion's answers onto the same classes
with :func:`notion_error_for`, so retry and reporting code has one vocabulary.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ApprovalError",
    "ConfigError",
    "ConflictError",
    "DevfactoryError",
    "FormulaError",
    "GatewayTimeoutError",
    "InternalError",
    "InternalServerError",
    "InvalidJSONError",
    "InvalidRequestError",
    "InvalidRequestURLError",
    "MissingVersionError",
    "NotionError",
    "NotionValidationError",
    "ObjectNotFoundError",
    "PayloadTooLargeError",
    "PlanError",
    "PolicyError",
    "RateLimitedError",
    "RestrictedResourceError",
    "ServiceUnavailableError",
    "SpecError",
    "StateLockedError",
    "TargetError",
    "TransientNotionError",
    "UnauthorizedError",
    "UserError",
    "notion_error_for",
]


class DevfactoryError(Exception):
    """Root of every error devfactory raises on purpose."""


class UserError(DevfactoryError):
    """Something the user can fix; the CLI prints the message and exits 1, no traceback."""


class ConfigError(UserError):
    """A setting (environment variable or project file) is missing or malformed."""


class FormulaError(UserError):
    """A Notion formula expression cannot be parsed, typed or evaluated.

    ``position`` is the 0-based character offset in the expression where the problem was
    found, when there is one.
    """

    def __init__(self, message: str, *, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


class FileIssuesError(UserError):
    """A file devfactory reads is invalid; ``issues`` holds every problem, each with its place.

    ``str()`` lists them one per line as ``file:line:col: message — hint``.
    """

    what = "file"

    def __init__(self, issues: list[Any]) -> None:
        self.issues = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues) or f"invalid {self.what}")


class SpecError(FileIssuesError):
    """A workspace spec is invalid (every problem, each at file:line:col)."""

    what = "spec"


class StateLockedError(UserError):
    """Another process holds the state lock of this workspace and environment."""


class PlanError(UserError):
    """A plan cannot be made or applied as asked (stale saved plan, destructive change refused)."""


class TargetError(UserError):
    """The Notion target cannot do what the spec needs (e.g. no parent page on real Notion)."""


class PolicyError(FileIssuesError):
    """A gate policy file is invalid (every problem, each at file:line:col)."""

    what = "policy"


class GatewayConfigError(FileIssuesError):
    """A gateway configuration file is invalid (every problem, each at file:line:col)."""

    what = "gateway configuration"


class ApprovalError(UserError):
    """An approval cannot be reviewed or used: unknown id, already reviewed, or expired."""


class InvalidEventError(DevfactoryError, ValueError):
    """Data that is not a valid event: not JSON, an unknown ``type``, or a wrong field."""


class EventBusError(DevfactoryError):
    """The event bus cannot take or deliver events (Redis unreachable, bus closed)."""


class InternalError(DevfactoryError):
    """A bug: an invariant of devfactory itself does not hold."""


class NotionError(DevfactoryError):
    """A Notion API refused a request; ``status`` and ``code`` are Notion's.

    Example::

        raise ObjectNotFoundError("Could not find page with ID: …")
    """

    status: int = 400
    code: str = "invalid_request"

    def __init__(self, message: str, *, additional_data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.additional_data = additional_data

    def body(self, request_id: str) -> dict[str, Any]:
        """Notion's error envelope for this error."""
        body: dict[str, Any] = {
            "object": "error",
            "status": self.status,
            "code": self.code,
            "message": self.message,
        }
        if self.additional_data is not None:
            body["additional_data"] = self.additional_data
        body["request_id"] = request_id
        return body


class InvalidJSONError(NotionError):
    """The request body could not be decoded as JSON."""

    status = 400
    code = "invalid_json"


class InvalidRequestURLError(NotionError):
    """The request URL is not a Notion API route."""

    status = 400
    code = "invalid_request_url"


class InvalidRequestError(NotionError):
    """The request is not supported (e.g. a method the route does not take)."""

    status = 400
    code = "invalid_request"


class NotionValidationError(NotionError):
    """The body, path or query does not match the endpoint's schema."""

    status = 400
    code = "validation_error"


class MissingVersionError(NotionError):
    """The Notion-Version header is missing."""

    status = 400
    code = "missing_version"


class UnauthorizedError(NotionError):
    """The bearer token is not valid."""

    status = 401
    code = "unauthorized"


class RestrictedResourceError(NotionError):
    """The token is valid but may not perform this operation."""

    status = 403
    code = "restricted_resource"


class ObjectNotFoundError(NotionError):
    """The object does not exist, or is not shared with the integration."""

    status = 404
    code = "object_not_found"


class ConflictError(NotionError):
    """The transaction could not be completed because of a data collision."""

    status = 409
    code = "conflict_error"


class PayloadTooLargeError(NotionError):
    """The request body is larger than Notion accepts."""

    status = 413
    code = "validation_error"


class TransientNotionError(NotionError):
    """A failure that may go away on its own; retrying is reasonable."""

    status = 500
    code = "internal_server_error"


class RateLimitedError(TransientNotionError):
    """Too many requests; ``retry_after`` is the whole number of seconds to wait."""

    status = 429
    code = "rate_limited"

    def __init__(
        self,
        message: str = "You have been rate limited. Please try again in a few minutes.",
        *,
        retry_after: int = 1,
        additional_data: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, additional_data=additional_data)
        self.retry_after = retry_after


class InternalServerError(TransientNotionError):
    """An unexpected error on the server."""

    status = 500
    code = "internal_server_error"


class ServiceUnavailableError(TransientNotionError):
    """The service is unavailable (or took longer than 60 s)."""

    status = 503
    code = "service_unavailable"


class GatewayTimeoutError(TransientNotionError):
    """The gateway timed out waiting for the service."""

    status = 504
    code = "gateway_timeout"


_BY_CODE: dict[str, type[NotionError]] = {
    cls.code: cls
    for cls in (
        InvalidJSONError,
        InvalidRequestURLError,
        InvalidRequestError,
        NotionValidationError,
        MissingVersionError,
        UnauthorizedError,
        RestrictedResourceError,
        ObjectNotFoundError,
        ConflictError,
        RateLimitedError,
        InternalServerError,
        ServiceUnavailableError,
        GatewayTimeoutError,
    )
}


def notion_error_for(status: int, code: str, message: str) -> NotionError:
    """Map a Notion error answer onto the tree; unknown codes keep their status and code."""
    cls = _BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    err = TransientNotionError(message) if status >= 500 or status == 429 else NotionError(message)
    err.status = status
    err.code = code
    return err
