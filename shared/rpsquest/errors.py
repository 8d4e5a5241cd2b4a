"""Every error a request can end in, each carrying its HTTP status and stable code (SPEC §3):
what the client got wrong (4xx), or a dependency that is down (503), so the caller retries."""

from __future__ import annotations

from collections.abc import Sequence
from http import HTTPStatus


class RpsError(Exception):
    status = HTTPStatus.BAD_REQUEST
    code = "validation_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def headers(self) -> dict[str, str]:
        """Headers the error's reply must carry besides its JSON body."""
        return {}


class InvalidJson(RpsError):
    code = "invalid_json"


class ValidationError(RpsError):
    code = "validation_error"


class UnknownPolicy(RpsError):
    code = "unknown_policy"


class InvalidMove(RpsError):
    code = "invalid_move"


class InvalidDifficulty(RpsError):
    code = "invalid_difficulty"


class InvalidEvent(RpsError):
    code = "invalid_event"


class Unauthorized(RpsError):
    status = HTTPStatus.UNAUTHORIZED
    code = "unauthorized"


class Forbidden(RpsError):
    status = HTTPStatus.FORBIDDEN
    code = "forbidden"


class BadToken(RpsError):
    status = HTTPStatus.FORBIDDEN
    code = "bad_token"


class GameNotFound(RpsError):
    status = HTTPStatus.NOT_FOUND
    code = "game_not_found"


class NotFound(RpsError):
    status = HTTPStatus.NOT_FOUND
    code = "not_found"


class MethodNotAllowed(RpsError):
    """The path exists but not with this method; `allowed` are the methods it answers, which
    the reply's Allow header must list (RFC 9110 §15.5.6)."""

    status = HTTPStatus.METHOD_NOT_ALLOWED
    code = "method_not_allowed"

    def __init__(self, message: str, allowed: Sequence[str]) -> None:
        super().__init__(message)
        self.allowed = tuple(allowed)

    @property
    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class GameFinished(RpsError):
    status = HTTPStatus.CONFLICT
    code = "game_finished"


class RoundConflict(RpsError):
    status = HTTPStatus.CONFLICT
    code = "round_conflict"


class PayloadTooLarge(RpsError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    code = "payload_too_large"


class Busy(RpsError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    code = "busy"


class Unavailable(RpsError):
    """The database, the model store or MLflow is down or busy: a retry may succeed, so the
    Broker (which retries 5xx) tries again. Each boundary module raises its own subclass."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    code = "unavailable"
