"""Wire types of the public HTTP API, parsed strictly from JSON bodies, query strings and
headers (SPEC §3.2, §3.3)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, Protocol, Self, cast, get_args

from rpsquest.errors import (
    InvalidDifficulty,
    InvalidMove,
    UnknownPolicy,
    ValidationError,
)
from rpsquest.game.policies import FAMILY_NAMES, ML_POLICIES, POLICIES
from rpsquest.game.rules import MOVES, Move
from rpsquest.schemas import BOOLEAN, DIFFICULTY, FAMILY, MOVE, POLICY, Schema, fields

Difficulty = Literal["normal", "easy"]
Source = Literal["human", "telemetry"]
Period = Literal["7d", "30d", "all"]

PERIODS: tuple[Period, ...] = get_args(Period)
SESSION_HEADER = "X-Session-Id"
_SESSION_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_NAME = 40
_MAX_GAME_ID = 64
MAX_ROW_ID = 2**31 - 1  # an INTEGER key's largest value (PostgreSQL); a larger one is no row
_MAX_LIMIT = 200

# The request schemas below describe what the parsers accept, for the OpenAPI documents
# (rpsquest.openapi); tests/unit/test_api.py holds each to its parser. Names are matched
# case-insensitively and trimmed, which a schema cannot say: it names the canonical spelling.
GAME_ID: Schema = {"type": "string", "minLength": 1, "maxLength": _MAX_GAME_ID}
SESSION_ID: Schema = {"type": "string", "pattern": f"^{_SESSION_ID.pattern}$"}
FAMILIES: Schema = {"type": "array", "items": FAMILY, "minItems": 1}
LIMIT: Schema = {"type": "integer", "minimum": 1, "maximum": _MAX_LIMIT, "default": 20}


class Headers(Protocol):
    """What the parsers read of a request's headers (Flask's are no Mapping)."""

    def get(self, key: str, /) -> str | None: ...


def _optional(body: Mapping[str, Any], field: str, kind: type, kind_name: str) -> Any:
    """A present field must have exactly the JSON type asked for: a bool is not an int."""
    value = body.get(field)
    if value is None:
        return None
    if type(value) is not kind:
        raise ValidationError(f"'{field}' must be {kind_name}.")
    return value


def _player_name(raw: str | None) -> str | None:
    if raw is None:
        return None
    name = raw.strip()
    if not 1 <= len(name) <= _MAX_NAME:
        raise ValidationError(f"'player_name' must be 1 to {_MAX_NAME} characters.")
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise ValidationError("'player_name' must not contain control or format characters.")
    return name


def _policy(raw: str) -> str:
    """A policy name as the catalogue spells it: case and surrounding space do not matter."""
    policy = raw.strip().lower()
    if policy not in POLICIES:
        raise UnknownPolicy(f"Unknown policy; choose one of {', '.join(POLICIES)}.")
    return policy


def _session_id(raw: str, where: str) -> str:
    if not _SESSION_ID.fullmatch(raw):
        raise ValidationError(f"{where} must be 1 to 64 characters of A-Z a-z 0-9 . _ -")
    return raw


def _game_id(body: Mapping[str, Any]) -> str:
    game_id = _optional(body, "game_id", str, "a string")
    # Printable: PostgreSQL refuses a NUL in text outright (a 500 where a 400 is due).
    if not game_id or len(game_id) > _MAX_GAME_ID or not game_id.isprintable():
        raise ValidationError(
            f"'game_id' is required: a string of at most {_MAX_GAME_ID} printable characters."
        )
    return str(game_id)


def _game_token(body: Mapping[str, Any]) -> str:
    token = _optional(body, "game_token", str, "a string")
    if not token:
        raise ValidationError("'game_token' is required.")
    return str(token)


def default_player_name(session_id: str) -> str:
    tag = "".join(ch for ch in session_id if ch.isascii() and ch.isalnum())[:3].upper()
    return f"Player-{tag}" if tag else "Player"


@dataclass(frozen=True, slots=True)
class StartGameRequest:
    schema: ClassVar[Schema] = fields(
        {"policy": {**POLICY, "description": "case-insensitive"}},
        {
            "difficulty": {**DIFFICULTY, "default": "normal"},
            "player_name": {
                "type": "string",
                "minLength": 1,
                "maxLength": _MAX_NAME,
                "description": "trimmed; no control or format characters",
            },
            "session_id": SESSION_ID,
            "is_test": BOOLEAN,
            "source": {
                "enum": ["human", "telemetry"],
                "description": "telemetry needs the admin bearer",
            },
        },
    )

    policy: str
    difficulty: Difficulty = "normal"
    player_name: str | None = None
    session_id: str | None = None
    is_test: bool = False
    source: Source = "human"

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        policy = _optional(body, "policy", str, "a string")
        if policy is None:
            raise ValidationError("'policy' is required.")
        policy = _policy(policy)
        difficulty = (_optional(body, "difficulty", str, "a string") or "normal").lower()
        if difficulty not in ("normal", "easy"):
            raise InvalidDifficulty("'difficulty' must be 'normal' or 'easy'.")
        if difficulty == "easy" and policy not in ML_POLICIES:
            raise InvalidDifficulty("Easy mode exists only for the ML bots.")
        session_id = _optional(body, "session_id", str, "a string")
        if session_id is not None:
            session_id = _session_id(session_id, "'session_id'")
        source = _optional(body, "source", str, "a string") or "human"
        if source not in ("human", "telemetry"):
            raise ValidationError("'source' must be 'human' or 'telemetry'.")
        return cls(
            policy=policy,
            difficulty=cast(Difficulty, difficulty),  # one of its values, checked above
            player_name=_player_name(_optional(body, "player_name", str, "a string")),
            session_id=session_id,
            is_test=_optional(body, "is_test", bool, "a boolean") or False,
            source=cast(Source, source),  # one of its values, checked above
        )


@dataclass(frozen=True, slots=True)
class PlayRequest:
    schema: ClassVar[Schema] = fields(
        {"game_id": GAME_ID, "game_token": {"type": "string", "minLength": 1}, "move": MOVE},
        {"round": {"type": "integer", "minimum": 1}},
    )

    game_id: str
    game_token: str
    move: Move
    round: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        game_id, token = _game_id(body), _game_token(body)
        move = _optional(body, "move", str, "a string")
        if move is None:
            raise ValidationError("'move' is required.")
        move = move.strip().lower()
        if move not in MOVES:
            raise InvalidMove("'move' must be rock, paper or scissors.")
        round_no = _optional(body, "round", int, "an integer")
        if round_no is not None and round_no < 1:
            raise ValidationError("'round' must be an integer of at least 1.")
        return cls(game_id=game_id, game_token=token, move=move, round=round_no)


@dataclass(frozen=True, slots=True)
class GameStateRequest:
    """`{game_id, game_token}` of play's POST /state: a game picked up where it stands."""

    schema: ClassVar[Schema] = fields(
        {"game_id": GAME_ID, "game_token": {"type": "string", "minLength": 1}}
    )

    game_id: str
    game_token: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        return cls(game_id=_game_id(body), game_token=_game_token(body))


@dataclass(frozen=True, slots=True)
class LeaderboardQuery:
    """`?period=7d|30d|all&policy=P` of start_game's GET /leaderboard: by default every game
    ever finished, against any policy."""

    schema: ClassVar[Schema] = fields(
        {}, {"period": {"enum": list(PERIODS), "default": "all"}, "policy": POLICY}
    )

    period: Period = "all"
    policy: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Self:
        period = args.get("period", "all")
        if period not in PERIODS:
            raise ValidationError(f"'period' must be one of {', '.join(PERIODS)}.")
        policy = args.get("policy")
        return cls(
            period=period,
            policy=None if policy is None else _policy(policy),
        )


@dataclass(frozen=True, slots=True)
class SessionQuery:
    """The `X-Session-Id` header of start_game's GET /me. The session id is the credential to
    a session's record, so it travels in a header: a URL ends up in logs and history."""

    schema: ClassVar[Schema] = fields({SESSION_HEADER: SESSION_ID})

    session_id: str

    @classmethod
    def from_headers(cls, headers: Headers) -> Self:
        session_id = headers.get(SESSION_HEADER)
        if session_id is None:
            raise ValidationError(f"The {SESSION_HEADER} header is required.")
        return cls(session_id=_session_id(session_id, f"The {SESSION_HEADER} header"))


@dataclass(frozen=True, slots=True)
class PredictionsQuery:
    """`?game_id=…` of play's admin GET /predictions."""

    schema: ClassVar[Schema] = fields({"game_id": GAME_ID})

    game_id: str

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Self:
        return cls(game_id=_game_id(args))


def _families(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    families = body.get("families")
    if families is None:
        return None
    if (
        not isinstance(families, list)
        or not families
        or any(f not in FAMILY_NAMES for f in families)
    ):
        raise ValidationError(f"'families' must be a non-empty list of {FAMILY_NAMES}.")
    return tuple(families)


@dataclass(frozen=True, slots=True)
class TrainRequest:
    """`{force?, families?}`: the body of training.requested and of train's POST /run."""

    schema: ClassVar[Schema] = fields({}, {"force": BOOLEAN, "families": FAMILIES})

    force: bool = False
    families: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        return cls(
            force=_optional(body, "force", bool, "a boolean") or False,
            families=_families(body),
        )


@dataclass(frozen=True, slots=True)
class PromoteRequest:
    """`{families?}`: the body of promote's POST /run."""

    schema: ClassVar[Schema] = fields({}, {"families": FAMILIES})

    families: tuple[str, ...] | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        return cls(families=_families(body))


@dataclass(frozen=True, slots=True)
class RetentionRequest:
    """`{dry_run?}`: the body of retention.requested and of promote's POST /gc; a dry run
    only reports the plan."""

    schema: ClassVar[Schema] = fields({}, {"dry_run": BOOLEAN})

    dry_run: bool = False

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        return cls(dry_run=_optional(body, "dry_run", bool, "a boolean") or False)


@dataclass(frozen=True, slots=True)
class SwapRequest:
    """`{family}`: promote's POST /promote swaps that family's Production and B now."""

    schema: ClassVar[Schema] = fields({"family": FAMILY})

    family: str

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        return cls(family=_family(body.get("family")))


def _family(value: Any) -> str:
    """A `family` field or argument: one of the catalogue's names."""
    if value not in FAMILY_NAMES:
        raise ValidationError(f"'family' must be one of {FAMILY_NAMES}.")
    return str(value)


def _limit(args: Mapping[str, str]) -> int:
    """`?limit=N` of the admin listings: 1-200, default 20. ASCII digits only: str.isdigit
    also takes '²', which int() refuses."""
    raw = args.get("limit", "20")
    if not re.fullmatch(r"[0-9]{1,3}", raw) or not 1 <= int(raw) <= _MAX_LIMIT:
        raise ValidationError(f"'limit' must be an integer from 1 to {_MAX_LIMIT}.")
    return int(raw)


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """`?limit=N&family=F` of GET /promotions: limit 1-200 (default 20), a known family."""

    schema: ClassVar[Schema] = fields({}, {"limit": LIMIT, "family": FAMILY})

    limit: int = 20
    family: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Self:
        family = args.get("family")
        return cls(limit=_limit(args), family=None if family is None else _family(family))


@dataclass(frozen=True, slots=True)
class DeadLetterQuery:
    """`?limit=N` of promote's GET /dead-letters: limit 1-200 (default 20)."""

    schema: ClassVar[Schema] = fields({}, {"limit": LIMIT})

    limit: int = 20

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Self:
        return cls(limit=_limit(args))


@dataclass(frozen=True, slots=True)
class ReplayRequest:
    """`{id}`: promote's POST /dead-letters/replay sends that dead letter to the Broker again."""

    schema: ClassVar[Schema] = fields(
        {"id": {"type": "integer", "minimum": 1, "maximum": MAX_ROW_ID}}
    )

    id: int

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        letter_id = _optional(body, "id", int, "an integer")
        if letter_id is None or not 1 <= letter_id <= MAX_ROW_ID:
            raise ValidationError(
                f"'id' is required: a dead letter's id, an integer from 1 to {MAX_ROW_ID}."
            )
        return cls(id=letter_id)


MAX_TELEMETRY_GAMES = 100


@dataclass(frozen=True, slots=True)
class TelemetryRequest:
    """`{games?}`: the body of telemetry.requested and of train's POST /telemetry."""

    schema: ClassVar[Schema] = fields(
        {}, {"games": {"type": "integer", "minimum": 1, "maximum": MAX_TELEMETRY_GAMES}}
    )

    games: int | None = None

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> Self:
        games = _optional(body, "games", int, "an integer")
        if games is not None and not 1 <= games <= MAX_TELEMETRY_GAMES:
            raise ValidationError(f"'games' must be an integer from 1 to {MAX_TELEMETRY_GAMES}.")
        return cls(games=games)
