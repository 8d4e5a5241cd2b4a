"""Promotion against a real store: twelve trained models, MLflow, the manifest, the ledger."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import insert, select

from rpsquest.events import PROMOTION_REQUESTED, TRAINING_COMPLETED
from rpsquest.modelstore import open_store
from rpsquest.promotion.promoter import Promoter
from rpsquest.registry import current_aliases
from rpsquest.store.database import migrate, open_engine
from rpsquest.store.lineages import current_lineages
from rpsquest.store.schema import alias_assignments, games, promotion_ledger
from tests.factories import finished_game_row
from tests.training_fixture import project_settings, smaller_configs

pytestmark = pytest.mark.slow


@pytest.fixture
def promoter(trained_cycle, tmp_path):
    shutil.copytree(trained_cycle.project / "var", tmp_path / "var")
    settings = project_settings(tmp_path)
    database = open_engine(settings.database_url)
    migrate(database)
    yield Promoter(settings, database, open_store(settings.model_store), smaller_configs())
    database.dispose()


def bootstrap(promoter):
    return promoter.evaluate(TRAINING_COMPLETED, "training-1", refresh=True)


def add_games(promoter, family, alias, games_played, bot_wins):
    """Finished human games that count as evidence for the alias's current assignment."""
    with promoter.database.connect() as connection:
        lineage = current_lineages(connection)[family][alias]
    policy = {"feedforward": "brian", "xgboost": "forrest", "logistic": "logan"}[family]
    rows = [
        finished_game_row(
            f"{family}-{alias}-{lineage.assignment_id}-{k}",
            "bot" if k < bot_wins else "user",
            policy=policy,
            family=family,
            alias=alias,
            assignment_id=lineage.assignment_id,
        )
        for k in range(games_played)
    ]
    with promoter.database.begin() as connection:
        connection.execute(insert(games), rows)


def newest_ledger(promoter, family):
    with promoter.database.connect() as connection:
        return (
            connection.execute(
                select(promotion_ledger)
                .where(promotion_ledger.c.family == family)
                .order_by(promotion_ledger.c.id.desc())
            )
            .mappings()
            .first()
        )


def test_the_first_training_completion_bootstraps_all_twelve_aliases(promoter, trained_cycle):
    promoted = bootstrap(promoter)

    manifest = promoter.store.read_manifest()
    assert promoted["manifest_version"] == manifest["manifest_version"] == 1
    assert promoted["previous_manifest_version"] is None
    assert len(promoted["changes"]) == 12
    assert sum(len(a) for a in manifest["models"].values()) == 12
    expected = {(r["family"], r["alias"]): r["version"] for r in trained_cycle.rows}
    assert {
        (family, alias): entry["version"]
        for family, aliases in manifest["models"].items()
        for alias, entry in aliases.items()
    } == expected
    assert current_aliases(promoter.settings)["xgboost"] == {
        alias: expected["xgboost", alias] for alias in ("Production", "B", "shadow1", "shadow2")
    }
    with promoter.database.connect() as connection:
        states = connection.execute(select(alias_assignments.c.state)).scalars().all()
    assert states == ["applied"] * 12
    assert newest_ledger(promoter, "logistic")["state"] == "applied"


def test_nothing_new_changes_nothing(promoter):
    bootstrap(promoter)

    again = promoter.evaluate(PROMOTION_REQUESTED, "ping-1", refresh=False)

    assert again is None
    assert promoter.store.read_manifest()["manifest_version"] == 1
    assert newest_ledger(promoter, "feedforward")["decision"] == "insufficient_data"


def test_a_clearly_better_b_is_promoted_and_its_window_starts_again(promoter):
    bootstrap(promoter)
    before = promoter.store.read_manifest()["models"]["xgboost"]
    add_games(promoter, "xgboost", "Production", 30, 12)
    add_games(promoter, "xgboost", "B", 30, 27)

    promoted = promoter.evaluate(PROMOTION_REQUESTED, "ping-2", refresh=False)

    after = promoter.store.read_manifest()["models"]["xgboost"]
    assert promoted["reason"] == "promotion"
    assert (after["Production"]["version"], after["B"]["version"]) == (
        before["B"]["version"],
        before["Production"]["version"],
    )
    assert after["Production"]["assignment_id"] not in (
        before["Production"]["assignment_id"],
        before["B"]["assignment_id"],
    )
    row = newest_ledger(promoter, "xgboost")
    assert (row["decision"], row["state"]) == ("promote_b", "applied")
    assert current_aliases(promoter.settings)["xgboost"]["Production"] == before["B"]["version"]
    assert promoter.evaluate(PROMOTION_REQUESTED, "ping-3", refresh=False) is None
    assert newest_ledger(promoter, "xgboost")["decision"] == "insufficient_data"


def test_a_restart_changes_no_decision(promoter):
    bootstrap(promoter)
    add_games(promoter, "logistic", "Production", 30, 20)
    add_games(promoter, "logistic", "B", 30, 21)
    restarted = Promoter(promoter.settings, promoter.database, promoter.store, promoter.configs)

    first = promoter.evaluate(PROMOTION_REQUESTED, "ping-4", refresh=False)
    first_row = newest_ledger(promoter, "logistic")
    second = restarted.evaluate(PROMOTION_REQUESTED, "ping-5", refresh=False)
    second_row = newest_ledger(promoter, "logistic")

    assert first is second is None
    assert first_row["decision"] == second_row["decision"] == "retain"
    assert first_row["inputs"] == second_row["inputs"]


def test_a_crash_between_the_registry_and_the_manifest_is_repaired(promoter, monkeypatch):
    bootstrap(promoter)
    before = promoter.store.read_manifest()
    add_games(promoter, "feedforward", "Production", 30, 10)
    add_games(promoter, "feedforward", "B", 30, 28)
    write_manifest = promoter.store.write_manifest

    def crash(_manifest):
        raise RuntimeError("the pod died after the aliases moved")

    monkeypatch.setattr(promoter.store, "write_manifest", crash)
    with pytest.raises(RuntimeError):
        promoter.evaluate(PROMOTION_REQUESTED, "ping-6", refresh=False)
    half = promoter.store.read_manifest()
    aliases = current_aliases(promoter.settings)["feedforward"]
    pending = newest_ledger(promoter, "feedforward")
    monkeypatch.setattr(promoter.store, "write_manifest", write_manifest)

    repaired = promoter.evaluate(PROMOTION_REQUESTED, "ping-7", refresh=False)

    old = before["models"]["feedforward"]
    assert half == before  # serving never saw a half-applied change
    assert aliases["Production"] == old["B"]["version"]  # but MLflow had moved
    assert pending["state"] == "pending"
    assert repaired["reason"] == "repair"
    manifest = promoter.store.read_manifest()
    assert manifest["models"]["feedforward"]["Production"]["version"] == old["B"]["version"]
    assert newest_ledger(promoter, "feedforward")["decision"] == "insufficient_data"
    with promoter.database.connect() as connection:
        assert (
            connection.execute(
                select(promotion_ledger).where(promotion_ledger.c.state == "pending")
            ).first()
            is None
        )
