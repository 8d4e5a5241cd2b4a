import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest

from rpsquest.features import N_V2_FEATURES
from rpsquest.game.policies import ALIASES, FAMILY_NAMES
from rpsquest.models import (
    ModelConfigError,
    load_configs,
    parse_config,
    parse_configs,
    train,
)
from rpsquest.models.export import parity_check, probe

CONFIG_FILE = Path(__file__).resolve().parents[3] / "configs" / "model_configs.json"

# §7.2, column for column.
FFNN_TABLE = {
    "ffnn_c04": ([128, 128, 64], 0.1, 128, 5e-4, 1e-4, 35, 8, 0.1),
    "ffnn_c02": ([64, 32], 0.0, 128, 1e-3, 1e-4, 20, 6, 0.0),
    "ffnn_c05": ([128, 64, 32], 0.2, 128, 1e-3, 3e-4, 30, 8, 0.1),
    "ffnn_c06": ([512, 256], 0.1, 256, 5e-4, 1e-4, 40, 10, 0.1),
    "ffnn_default": ([64, 32], 0.3, 64, 3e-3, 1e-4, 15, 7, 0.0),
}
FFNN_COLUMNS = (
    "hidden",
    "dropout",
    "batch",
    "lr",
    "weight_decay",
    "patience",
    "reduce_lr_patience",
    "lambda_danger",
)
XGB_TABLE = {
    "xgb_c07": (600, 0.08, 3, 1, 1.0, 1.0, 1.0, 0.0, 0.0),
    "xgb_c02": (300, 0.08, 2, 5, 1.0, 1.0, 3.0, 0.3, 0.1),
    "xgb_c06": (1000, 0.03, 5, 5, 0.9, 0.9, 3.0, 0.1, 0.1),
    "xgb_c08": (300, 0.08, 4, 2, 0.9, 0.9, 2.0, 0.1, 0.3),
    "xgb_default": (300, 0.05, 3, 2, 0.8, 0.7, 2.0, 0.1, 0.0),
}
XGB_COLUMNS = (
    "n_estimators",
    "learning_rate",
    "max_depth",
    "min_child_weight",
    "subsample",
    "colsample_bytree",
    "reg_lambda",
    "reg_alpha",
    "gamma",
)
MN_TABLE = {
    "mn_c06": (0.05, True),
    "mn_c12": (0.2, True),
    "mn_c09": (0.4, True),
    "mn_c10": (0.0, False),
    "mn_default": (1.0, True),
}
MN_COLUMNS = ("l2_lambda", "use_class_weights")
SPEC_TABLES = [
    ("feedforward", FFNN_TABLE, FFNN_COLUMNS),
    ("xgboost", XGB_TABLE, XGB_COLUMNS),
    ("logistic", MN_TABLE, MN_COLUMNS),
]


def test_repo_configs_hold_the_spec_configs_and_no_others():
    configs = load_configs(CONFIG_FILE)

    assert set(configs.configs) == {cid for _, table, _ in SPEC_TABLES for cid in table}


@pytest.mark.parametrize(
    ("family", "config_id", "values", "columns"),
    [
        pytest.param(family, config_id, values, columns, id=config_id)
        for family, table, columns in SPEC_TABLES
        for config_id, values in table.items()
    ],
)
def test_each_repo_config_is_its_spec_row_exactly(family, config_id, values, columns):
    config = load_configs(CONFIG_FILE).get(config_id)

    assert config.family == family
    assert dict(config.params) == dict(zip(columns, values, strict=True))


def test_repo_configs_start_from_the_spec_assignment():
    configs = load_configs(CONFIG_FILE)

    table = {
        family: [configs.bootstrap_assignment[family][a] for a in ALIASES]
        for family in FAMILY_NAMES
    }
    assert table == {
        "feedforward": ["ffnn_c04", "ffnn_c02", "ffnn_c05", "ffnn_c06"],
        "xgboost": ["xgb_c07", "xgb_c02", "xgb_c06", "xgb_c08"],
        "logistic": ["mn_c06", "mn_c12", "mn_c09", "mn_c10"],
    }
    assert configs.bootstrap_config("xgboost", "shadow1").params["n_estimators"] == 1000


def test_an_unknown_config_id_fails_with_its_name():
    configs = load_configs(CONFIG_FILE)

    with pytest.raises(ModelConfigError, match="unknown config_id 'ffnn_c99'"):
        configs.get("ffnn_c99")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"family": "forest", "l2_lambda": 0.1}, "family must be one of"),
        ({"family": "logistic", "l2_lambda": 0.1}, "missing use_class_weights"),
        ({"family": "logistic", "l2_lambda": 0.1, "use_class_weights": True, "C": 1}, "unknown C"),
        ({"family": "logistic", "l2_lambda": -1, "use_class_weights": True}, "l2_lambda must be"),
        ({"family": "logistic", "l2_lambda": 0.1, "use_class_weights": 1}, "use_class_weights"),
        (
            {
                "family": "feedforward",
                **dict(zip(FFNN_COLUMNS, FFNN_TABLE["ffnn_c02"], strict=True)),
                "max_epochs": 500,
            },
            "max_epochs must be an integer in",
        ),
        (
            {
                "family": "feedforward",
                **dict(zip(FFNN_COLUMNS, FFNN_TABLE["ffnn_c02"], strict=True)),
                "hidden": [],
            },
            "hidden must be a non-empty list",
        ),
    ],
)
def test_parse_config_rejects_malformed_entries(entry, message):
    with pytest.raises(ModelConfigError, match=message) as error:
        parse_config("bad", entry)

    assert "config 'bad'" in str(error.value)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["bootstrap_assignment"]["xgboost"].update(B="mn_c06"), "no xgboost config"),
        (lambda d: d["bootstrap_assignment"]["logistic"].update(B="mn_c06"), "configs must differ"),
        (lambda d: d["bootstrap_assignment"]["logistic"].pop("shadow2"), "must name"),
        (lambda d: d["bootstrap_assignment"].pop("logistic"), "exactly the families"),
        (lambda d: d.update(extra=1), "unknown top-level keys: extra"),
    ],
)
def test_parse_configs_rejects_a_broken_assignment_table(change, message):
    document = json.loads(CONFIG_FILE.read_text())
    change(document)

    with pytest.raises(ModelConfigError, match=message):
        parse_configs(document)


def test_load_configs_names_an_unreadable_file(tmp_path):
    path = tmp_path / "model_configs.json"
    path.write_text("{not json")

    with pytest.raises(ModelConfigError, match="cannot read model configs from"):
        load_configs(path)


# Training feedforward and xgboost takes seconds: they stay out of the fast loop.
@pytest.fixture(
    scope="module",
    params=[
        family if family == "logistic" else pytest.param(family, marks=pytest.mark.slow)
        for family in FAMILY_NAMES
    ],
)
def trained(request, synthetic, fast_configs):
    config = fast_configs[request.param]
    s = synthetic
    return train(config, s.X_train, s.y_train, s.X_val, s.y_val, seed=3)


def test_each_family_beats_chance_on_held_out_rows(trained, synthetic):
    predicted = trained.predict_proba(synthetic.X_test).argmax(axis=1)

    assert (predicted == synthetic.y_test).mean() > 0.6


def test_each_family_exports_features_in_and_probabilities_out(trained):
    model = onnx.load_from_string(trained.to_onnx())

    assert [value.name for value in model.graph.input] == ["features"]
    assert [value.name for value in model.graph.output] == ["probabilities"]
    assert {p.key: p.value for p in model.metadata_props}["feature_contract"] == "rps50-v3"
    assert {entry.domain: entry.version for entry in model.opset_import}[""] == 15


def test_each_family_onnx_matches_native_on_a_thousand_vectors(trained, synthetic):
    difference = parity_check(trained, trained.to_onnx(), synthetic.X_test)

    assert difference < 1e-5


def test_each_family_gives_probabilities_that_sum_to_one(trained, synthetic):
    native = trained.predict_proba(synthetic.X_test)
    probed = probe(trained.to_onnx(), synthetic.X_test[0].tolist())

    assert native.shape == (len(synthetic.X_test), 3)
    assert native.dtype == np.float32
    assert np.allclose(native.sum(axis=1), 1.0, atol=1e-5)
    assert (native >= 0).all()
    assert math.isclose(sum(probed), 1.0, abs_tol=1e-5)
    assert np.allclose(probed, native[0], atol=1e-5)


def test_each_family_is_reproducible_from_its_seed(trained, synthetic, fast_configs):
    s = synthetic
    again = train(trained.config, s.X_train, s.y_train, s.X_val, s.y_val, seed=3)

    assert np.array_equal(again.predict_proba(s.X_test), trained.predict_proba(s.X_test))
    assert again.to_onnx() == trained.to_onnx()


def test_train_rejects_a_training_split_missing_a_class(synthetic, fast_configs):
    keep = synthetic.y_train != 2

    with pytest.raises(ValueError, match=r"classes \[2\] never occur"):
        train(
            fast_configs["logistic"],
            synthetic.X_train[keep],
            synthetic.y_train[keep],
            synthetic.X_val,
            synthetic.y_val,
            seed=0,
        )


def test_train_rejects_features_of_another_contracts_width(synthetic, fast_configs):
    with pytest.raises(ValueError, match=r"shape \[n, 116\], got \(1050, 50\)"):
        train(
            fast_configs["logistic"],
            synthetic.X_train[:, :N_V2_FEATURES],
            synthetic.y_train,
            synthetic.X_val,
            synthetic.y_val,
            seed=0,
        )
