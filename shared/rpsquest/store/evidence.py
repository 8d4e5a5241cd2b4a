"""What finished games and stored predictions show (SPEC §9.1, §11): the game evidence of an
assignment, alias accuracy on shared rounds, and recent results per policy. Everything is read
from the gameplay store, so a restart or a scale-to-zero changes nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, func, select

from rpsquest.store.lineages import Lineage
from rpsquest.store.schema import games, predictions, rounds


@dataclass(frozen=True, slots=True)
class GameEvidence:
    games: int
    wins: int

    @property
    def win_rate(self) -> float | None:
        return self.wins / self.games if self.games else None


def game_evidence(connection: Connection, family: str, lineage: Lineage) -> GameEvidence:
    """Finished, non-test human games the lineage played under its current assignment."""
    games_played, wins = connection.execute(
        select(
            func.count(), func.coalesce(func.sum(case((games.c.winner == "bot", 1), else_=0)), 0)
        ).where(
            games.c.family == family,
            games.c.alias == lineage.alias,
            games.c.assignment_id == lineage.assignment_id,
            games.c.finished_at.is_not(None),
            games.c.is_test.is_(False),
            games.c.source == "human",
            games.c.fallback_rounds == 0,
            games.c.mixed_assignment.is_(False),
        )
    ).one()
    return GameEvidence(int(games_played), int(wins))


def shared_accuracy(
    connection: Connection, family: str, lineages: Sequence[Lineage]
) -> tuple[int, dict[str, float]]:
    """(common rounds, accuracy per alias) over the rounds every lineage predicted, since the
    latest of their assignments started: challengers are compared on the same rounds."""
    since = max(lineage.started_at for lineage in lineages)
    tables = [predictions.alias(f"p{i}") for i in range(len(lineages))]
    first = tables[0]
    query = select(
        func.count(),
        *(func.coalesce(func.sum(case((t.c.correct.is_(True), 1), else_=0)), 0) for t in tables),
    ).select_from(
        first.join(
            rounds,
            and_(rounds.c.game_id == first.c.game_id, rounds.c.round_no == first.c.round_no),
        )
    )
    for other in tables[1:]:
        query = query.join(
            other,
            and_(other.c.game_id == first.c.game_id, other.c.round_no == first.c.round_no),
        )
    conditions = [rounds.c.created_at >= since]
    for table, lineage in zip(tables, lineages, strict=True):
        conditions += [
            table.c.family == family,
            table.c.alias == lineage.alias,
            table.c.assignment_id == lineage.assignment_id,
        ]
    common, *correct = connection.execute(query.where(*conditions)).one()
    accuracy = {
        lineage.alias: (int(hits) / common if common else 0.0)
        for lineage, hits in zip(lineages, correct, strict=True)
    }
    return int(common), accuracy


def prediction_tally(connection: Connection, family: str, lineage: Lineage) -> tuple[int, int]:
    """(predictions made, predictions that came true) of the lineage's current assignment."""
    made, hits = connection.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((predictions.c.correct.is_(True), 1), else_=0)), 0),
        ).where(
            predictions.c.family == family,
            predictions.c.alias == lineage.alias,
            predictions.c.assignment_id == lineage.assignment_id,
        )
    ).one()
    return int(made), int(hits)


def policy_results(connection: Connection, since: str) -> dict[str, tuple[int, int]]:
    """policy -> (games, bot wins) over the human, non-test games finished since `since`."""
    rows = connection.execute(
        select(
            games.c.policy,
            func.count(),
            func.coalesce(func.sum(case((games.c.winner == "bot", 1), else_=0)), 0),
        )
        .where(
            games.c.finished_at >= since,
            games.c.source == "human",
            games.c.is_test.is_(False),
        )
        .group_by(games.c.policy)
    ).all()
    return {policy: (int(n), int(wins)) for policy, n, wins in rows}
