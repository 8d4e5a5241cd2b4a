"""JSON Schema (2020-12, OpenAPI 3.1's dialect) building blocks for the request schemas in
api.py and the reply schemas in replies.py, so a move or a policy is described once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rpsquest.game.policies import ALIASES, FAMILY_NAMES, POLICIES
from rpsquest.game.rules import MOVES

Schema = Mapping[str, Any]


def strict(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """A reply object: exactly these properties, the `required` ones always present."""
    return {**fields(required, optional), "additionalProperties": False}


def fields(required: Mapping[str, Schema], optional: Mapping[str, Schema] | None = None) -> Schema:
    """A request object: these properties, the `required` ones present; unknown ones are
    ignored (SPEC §3), so they are allowed."""
    return {
        "type": "object",
        "properties": {**required, **(optional or {})},
        "required": list(required),
    }


def nullable(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


STRING: Schema = {"type": "string"}
NUMBER: Schema = {"type": "number"}
COUNT: Schema = {"type": "integer", "minimum": 0}
BOOLEAN: Schema = {"type": "boolean"}
OBJECT: Schema = {"type": "object"}
MOVE: Schema = {"enum": list(MOVES)}
POLICY: Schema = {"enum": list(POLICIES)}
FAMILY: Schema = {"enum": list(FAMILY_NAMES)}
ALIAS: Schema = {"enum": list(ALIASES)}
DIFFICULTY: Schema = {"enum": ["normal", "easy"]}
