"""Retention's plan from hand-built inventories, and promote carrying it out on a real database
and folder store with MLflow's side faked (the production-profile test uses a real server)."""

from __future__ import annotations

import dataclasses
import hashlib

import pytest

from rpsquest import registry
from rpsquest.errors import Busy
from rpsquest.events import RETENTION_REQUESTED, Event
from rpsquest.manifest import Manifest
from rpsquest.modelstore import ARTIFACTS, FolderStore, artifact_key
from rpsquest.promotion.promoter import Promoter
from rpsquest.promotion.retention import Inventory, Recorded, make_plan
from rpsquest.registry import RegisteredVersion
from rpsquest.store.coordination import PROMOTE_LEASE, TRAIN_LEASE, acquire_lease
from rpsquest.store.database import write_transaction
from rpsquest.store.ledger import add_entry
from rpsquest.store.lineages import apply_assignment, open_assignment, record_version
from tests.training_fixture import smaller_configs

NOW = "2026-03-01T10:00:00.000Z"


def key(family: str, config_id: str, version: int) -> str:
    return artifact_key(family, config_id, hashlib.sha256(f"{version}".encode()).hexdigest())


def recorded(family: str, config_id: str, *versions: int) -> list[Recorded]:
    return [Recorded(family, v, config_id, key(family, config_id, v)) for v in versions]


def registered(family: str, *versions: int) -> list[RegisteredVersion]:
    return [RegisteredVersion(family, v, f"run-{family}-{v}", f"m-{family}-{v}") for v in versions]


def manifest(family: str, config_id: str, alias: str, version: int) -> Manifest:
    entry = {
        "version": version,
        "config_id": config_id,
        "assignment_id": 1,
        "artifact": key(family, config_id, version),
        "sha256": "0" * 64,
        "probe": [0.4, 0.3, 0.3],
    }
    return Manifest.from_json(
        {
            "schema": 1,
            "manifest_version": 7,
            "feature_contract": "rps50-v3",
            "models": {family: {alias: entry}},
        }
    )


def inventory(rows: list[Recorded], **changes) -> Inventory:
    """Everything recorded also exists in MLflow and the store, and nothing names it."""
    values = {
        "recorded": rows,
        "registered": [RegisteredVersion(r.family, r.version, None, None) for r in rows],
        "artifacts": [r.artifact for r in rows],
        "manifest": None,
        "pending": {},
        "aliases": {},
        "mlflow_aliases": {},
    }
    return Inventory(**(values | changes))


def decisions(plan):
    return {(v.version.family, v.version.version): (v.keep, v.reasons) for v in plan.versions}


def kept_artifacts(plan):
    return {a.key for a in plan.artifacts if a.keep}


# -- the plan ------------------------------------------------------------------------------------


def test_the_newest_n_of_a_lineage_are_kept_and_the_older_deleted():
    rows = recorded("feedforward", "ffnn_c04", 1, 2, 3, 4, 5)

    plan = make_plan(inventory(rows), keep_per_lineage=3)

    assert decisions(plan) == {
        ("feedforward", 1): (False, ("older than the newest 3 of ffnn_c04",)),
        ("feedforward", 2): (False, ("older than the newest 3 of ffnn_c04",)),
        ("feedforward", 3): (True, ("newest 3 of ffnn_c04",)),
        ("feedforward", 4): (True, ("newest 3 of ffnn_c04",)),
        ("feedforward", 5): (True, ("newest 3 of ffnn_c04",)),
    }
    assert kept_artifacts(plan) == {r.artifact for r in rows[2:]}
    deleted = [a for a in plan.artifacts if not a.keep]
    assert [a.reasons for a in deleted] == [("named only by versions not kept",)] * 2


def test_each_lineage_keeps_its_own_newest_however_the_versions_interleave():
    rows = [
        *recorded("xgboost", "xgb_c07", 1, 3, 5, 7),
        *recorded("xgboost", "xgb_c02", 2, 4, 6, 8),
        *recorded("logistic", "mn_c06", 1, 2),
    ]

    plan = make_plan(inventory(rows), keep_per_lineage=2)

    kept = {version for version, (keep, _) in decisions(plan).items() if keep}
    assert kept == {
        ("xgboost", 5),
        ("xgboost", 7),
        ("xgboost", 6),
        ("xgboost", 8),
        ("logistic", 1),
        ("logistic", 2),
    }


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        (
            {"manifest": manifest("feedforward", "ffnn_c04", "Production", 1)},
            "manifest 7: Production",
        ),
        ({"pending": {41: {"feedforward": {"B": 1}}}}, "pending ledger row 41: B"),
        ({"aliases": {"feedforward": {"shadow1": 1}}}, "alias shadow1"),
        ({"mlflow_aliases": {"feedforward": {"shadow2": 1}}}, "MLflow alias shadow2"),
    ],
    ids=["manifest", "pending ledger row", "alias table", "MLflow alias"],
)
def test_a_referenced_version_is_kept_however_old(reference, reason):
    rows = recorded("feedforward", "ffnn_c04", 1, 2, 3)

    plan = make_plan(inventory(rows, **reference), keep_per_lineage=1)

    assert decisions(plan)["feedforward", 1] == (True, (reason,))
    assert decisions(plan)["feedforward", 2][0] is False
    assert kept_artifacts(plan) == {rows[0].artifact, rows[2].artifact}


def test_one_version_may_be_kept_for_several_reasons():
    rows = recorded("logistic", "mn_c06", 1)
    references = {
        "manifest": manifest("logistic", "mn_c06", "Production", 1),
        "aliases": {"logistic": {"Production": 1}},
        "mlflow_aliases": {"logistic": {"Production": 1}},
    }

    plan = make_plan(inventory(rows, **references), keep_per_lineage=1)

    assert decisions(plan)["logistic", 1] == (
        True,
        (
            "manifest 7: Production",
            "alias Production",
            "MLflow alias Production",
            "newest 1 of mn_c06",
        ),
    )
    (artifact,) = plan.artifacts
    assert artifact.reasons == ("manifest 7: logistic Production", "logistic version 1")


def test_an_artifact_two_versions_share_stays_while_either_is_kept():
    # Identical data and a deterministic fit give identical bytes, so one key for two versions.
    shared = key("logistic", "mn_c06", 1)
    rows = [Recorded("logistic", v, "mn_c06", shared) for v in (1, 2)]

    plan = make_plan(inventory(rows, artifacts=[shared]), keep_per_lineage=1)

    assert decisions(plan)["logistic", 1][0] is False
    assert kept_artifacts(plan) == {shared}


def test_the_manifest_keeps_its_artifacts_even_when_no_record_names_them():
    served = manifest("xgboost", "xgb_c07", "B", 9)

    plan = make_plan(
        inventory([], artifacts=[served.models["xgboost"]["B"].artifact], manifest=served),
        keep_per_lineage=3,
    )

    assert [(a.keep, a.reasons) for a in plan.artifacts] == [(True, ("manifest 7: xgboost B",))]


def test_what_train_never_recorded_is_deleted():
    rows = recorded("feedforward", "ffnn_c04", 1)
    orphan = key("feedforward", "ffnn_c04", 2)

    plan = make_plan(
        inventory(
            rows, registered=registered("feedforward", 1, 2), artifacts=[rows[0].artifact, orphan]
        ),
        keep_per_lineage=3,
    )

    assert decisions(plan)["feedforward", 2] == (
        False,
        ("never recorded by train: a cycle cut short",),
    )
    assert plan.versions[1].config_id is None
    assert [(a.key, a.keep) for a in plan.artifacts if not a.keep] == [(orphan, False)]


def test_only_what_exists_is_planned():
    # Version 1 went from MLflow and its artifact from the store in an earlier run.
    rows = recorded("feedforward", "ffnn_c04", 1, 2)

    plan = make_plan(
        inventory(rows, registered=registered("feedforward", 2), artifacts=[rows[1].artifact]),
        keep_per_lineage=1,
    )

    assert list(decisions(plan)) == [("feedforward", 2)]
    assert [a.key for a in plan.artifacts] == [rows[1].artifact]


def test_the_plan_as_json_counts_what_it_keeps_and_deletes():
    rows = recorded("feedforward", "ffnn_c04", 1, 2, 3)

    body = make_plan(inventory(rows), keep_per_lineage=2).to_json()

    assert body["keep_per_lineage"] == 2
    assert body["kept"] == {"versions": 2, "artifacts": 2}
    assert body["deleted"] == {"versions": 1, "artifacts": 1}
    assert body["versions"][0] == {
        "family": "feedforward",
        "version": 1,
        "config_id": "ffnn_c04",
        "keep": False,
        "reasons": ["older than the newest 2 of ffnn_c04"],
    }
    assert {
        "key": rows[0].artifact,
        "keep": False,
        "reasons": ["named only by versions not kept"],
    } in body["artifacts"]
    assert {"key": rows[2].artifact, "keep": True, "reasons": ["feedforward version 3"]} in body[
        "artifacts"
    ]


# -- promote carrying it out -----------------------------------------------------------------------


class FakeRegistry:
    """MLflow's side of retention: the versions it holds, and those deleted."""

    def __init__(self, versions: list[RegisteredVersion], aliases) -> None:
        self.versions = list(versions)
        self.aliases = aliases
        self.deleted: list[RegisteredVersion] = []

    def registered_versions(self, _settings):
        return list(self.versions)

    def current_aliases(self, _settings):
        return self.aliases

    def delete_version(self, _settings, version):
        self.versions.remove(version)
        self.deleted.append(version)


@pytest.fixture
def promoter(make_settings, database, tmp_path, monkeypatch):
    """Four feedforward versions of ffnn_c04 in the store and the records: version 1 serves as
    Production, version 2 is what a pending ledger row means B to be, 3 and 4 are the newest."""
    store = FolderStore(tmp_path / "models")
    with write_transaction(database) as connection:
        for version in (1, 2, 3, 4):
            artifact, sha256 = store.put_artifact("feedforward", "ffnn_c04", b"onnx %d" % version)
            record_version(
                connection,
                family="feedforward",
                version=version,
                config_id="ffnn_c04",
                run_id=f"run-{version}",
                cycle_id=f"cycle-{version}",
                artifact=artifact,
                sha256=sha256,
                probe=[0.4, 0.3, 0.3],
                metrics={},
                created_at=NOW,
                feature_contract="rps50-v3",
            )
        assignment = open_assignment(
            connection, "feedforward", "Production", "ffnn_c04", 1, "bootstrap", NOW
        )
        apply_assignment(connection, "feedforward", "Production", assignment, 1, NOW)
        add_entry(
            connection,
            created_at=NOW,
            family="feedforward",
            decision="retain",
            reorder_applied=True,
            pending=True,
            inputs={"intended": {"B": {"config_id": "ffnn_c04", "version": 2, "assignment_id": 9}}},
            before={},
            after={"B": 2},
            reason="reorder",
            trigger_type="admin",
            trigger_event_id=None,
        )
    fake = FakeRegistry(
        registered("feedforward", 1, 2, 3, 4, 5), {"feedforward": {"Production": 1}}
    )
    for name in ("registered_versions", "current_aliases", "delete_version"):
        monkeypatch.setattr(registry, name, getattr(fake, name))
    settings = make_settings(RPS_RETENTION_VERSIONS="2")
    built = Promoter(settings, database, store, smaller_configs())
    built.fake_registry = fake
    return built


def test_a_dry_run_reports_the_plan_and_changes_nothing(promoter):
    before = promoter.store.keys(ARTIFACTS)

    body = promoter.collect_garbage(dry_run=True)

    assert body["dry_run"] is True
    assert body["deleted"] == {"versions": 1, "artifacts": 0}  # 5: registered, never recorded
    assert promoter.store.keys(ARTIFACTS) == before
    assert promoter.fake_registry.deleted == []


def test_a_run_deletes_what_nothing_names_and_keeps_the_rest(promoter):
    promoter.settings = dataclasses.replace(promoter.settings, retention_versions=1)
    dry = promoter.collect_garbage(dry_run=True)

    body = promoter.collect_garbage(dry_run=False)

    assert body == dry | {"dry_run": False}
    reasons = {v["version"]: (v["keep"], v["reasons"]) for v in body["versions"]}
    assert reasons[1][0] and reasons[2][0] and reasons[4][0]
    assert reasons[3] == (False, ["older than the newest 1 of ffnn_c04"])
    assert [(v.family, v.version) for v in promoter.fake_registry.deleted] == [
        ("feedforward", 3),
        ("feedforward", 5),
    ]
    stored = promoter.store.keys(ARTIFACTS)
    assert len(stored) == 3
    assert {promoter.store.read(k) for k in stored} == {b"onnx 1", b"onnx 2", b"onnx 4"}


def test_a_run_waits_for_a_training_cycle_and_releases_promotes_lease(promoter):
    assert acquire_lease(promoter.database, TRAIN_LEASE, "a running cycle", 60)

    with pytest.raises(Busy, match="A training cycle is running"):
        promoter.collect_garbage(dry_run=False)

    assert promoter.fake_registry.deleted == []
    assert acquire_lease(promoter.database, PROMOTE_LEASE, "the next evaluation", 60)
    assert promoter.collect_garbage(dry_run=True)["dry_run"] is True  # a dry run takes no lease


def test_a_run_waits_for_a_promotion_evaluation(promoter):
    assert acquire_lease(promoter.database, PROMOTE_LEASE, "an evaluation", 60)

    with pytest.raises(Busy, match="Another promotion evaluation is running"):
        promoter.collect_garbage(dry_run=False)

    assert acquire_lease(promoter.database, TRAIN_LEASE, "the next cycle", 60)


def test_retention_requested_runs_it_and_replies_nothing(promoter):
    event = Event("e-1", "/apis/v1/namespaces/rps-quest/pingsources/x", RETENTION_REQUESTED, {})

    reply = promoter.on_event(event)

    assert reply is None
    assert [v.version for v in promoter.fake_registry.deleted] == [5]
