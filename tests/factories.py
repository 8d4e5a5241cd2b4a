"""Complete, valid rows of the store's tables (store/schema.py): each factory fills every column,
so a test names only the values its behaviour depends on."""

from __future__ import annotations

from typing import Any

from rpsquest.store.games import utc_now


def game_row(id: str = "g-1", **values: Any) -> dict[str, Any]:
    """A `games` row: a fresh human game against ace, its gambit drawn, no round played."""
    return {
        "id": id,
        "token_sha256": "0" * 64,
        "created_at": "2026-01-01T00:00:00.000Z",
        "finished_at": None,
        "session_id": "s",
        "player_name": "Player",
        "policy": "ace",
        "family": "legacy",
        "difficulty": "normal",
        "source": "human",
        "is_test": False,
        "alias": None,
        "assignment_id": None,
        "gambit": "toolbox",
        "gambit_moves": "rock,rock,rock",
        "rounds_played": 0,
        "user_score": 0.0,
        "bot_score": 0.0,
        "winner": None,
        "fallback_rounds": 0,
        "mixed_assignment": False,
        **values,
    }


def finished_game_row(id: str, winner: str, **values: Any) -> dict[str, Any]:
    """A `games` row finished now after 12 rounds, `winner` ahead 10 to 6 (a tie: 6 all): by
    default evidence for logistic's Production in its assignment 1 (SPEC §9.1)."""
    now = utc_now()
    finished = {
        "created_at": now,
        "finished_at": now,
        "policy": "logan",
        "family": "logistic",
        "alias": "Production",
        "assignment_id": 1,
        "rounds_played": 12,
        "user_score": 10.0 if winner == "user" else 6.0,
        "bot_score": 10.0 if winner == "bot" else 6.0,
        "winner": winner,
    }
    return game_row(id, **(finished | values))


def round_row(game_id: str, round_no: int, **values: Any) -> dict[str, Any]:
    """A `rounds` row: a drawn gambit round, rock against rock, with an empty feature vector."""
    return {
        "game_id": game_id,
        "round_no": round_no,
        "created_at": "2026-01-01T00:00:00.000Z",
        "user_move": "rock",
        "bot_move": "rock",
        "result": "draw",
        "user_delta": 0.5,
        "bot_delta": 0.5,
        "user_score": 0.5,
        "bot_score": 0.5,
        "rock_pts": 1.0,
        "paper_pts": 1.5,
        "scissors_pts": 2.0,
        "phase": "gambit",
        "alias": None,
        "model_version": None,
        "assignment_id": None,
        "features": "[]",
        **values,
    }


def prediction_row(game_id: str, round_no: int, alias: str, **values: Any) -> dict[str, Any]:
    """A `predictions` row: logistic version 1 (assignment 1) predicting rock, correctly."""
    return {
        "game_id": game_id,
        "round_no": round_no,
        "family": "logistic",
        "alias": alias,
        "version": 1,
        "assignment_id": 1,
        "p_rock": 0.5,
        "p_paper": 0.25,
        "p_scissors": 0.25,
        "predicted": "rock",
        "correct": True,
        **values,
    }
