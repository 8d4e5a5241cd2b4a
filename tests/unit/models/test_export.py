import numpy as np
import onnx
import pytest

from rpsquest.features import N_FEATURES
from rpsquest.models import parse_config, train
from rpsquest.models.common import finalise_onnx
from rpsquest.models.export import (
    ParityError,
    create_session,
    parity_check,
    probe,
    sample_rows,
)


@pytest.fixture(scope="module")
def logistic_pair(synthetic):
    s = synthetic
    models = []
    for config_id, l2_lambda in (("mn_a", 0.01), ("mn_b", 5.0)):
        config = parse_config(
            config_id, {"family": "logistic", "l2_lambda": l2_lambda, "use_class_weights": False}
        )
        models.append(train(config, s.X_train, s.y_train, s.X_val, s.y_val, seed=0))
    return models


def test_parity_check_rejects_another_models_graph(logistic_pair, synthetic):
    first, second = logistic_pair

    with pytest.raises(
        ParityError, match=r"mn_a: ONNX differs from the native model by .* on 1225"
    ):
        parity_check(first, second.to_onnx(), synthetic.X_test)


def test_parity_check_rejects_a_graph_without_probabilities(logistic_pair, synthetic):
    first, _ = logistic_pair
    model = onnx.load_from_string(first.to_onnx())
    model.graph.output[0].name = "scores"
    model.graph.node[-1].output[0] = "scores"

    with pytest.raises(ParityError, match="must take \\['features'\\] and give 'probabilities'"):
        parity_check(first, model.SerializeToString(), synthetic.X_test)


def test_sampled_rows_are_seeded_and_stay_in_each_columns_range(synthetic):
    X = synthetic.X_test

    rows = sample_rows(X, 1000, seed=4)

    assert rows.shape == (1000, N_FEATURES)
    assert rows.dtype == np.float32
    assert np.array_equal(rows, sample_rows(X, 1000, seed=4))
    assert (rows >= X.min(axis=0)).all()
    assert (rows <= X.max(axis=0)).all()


def test_sessions_run_on_one_cpu_thread_each_way(logistic_pair):
    session = create_session(logistic_pair[0].to_onnx())

    options = session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert session.get_providers() == ["CPUExecutionProvider"]


def test_probe_returns_three_plain_floats(logistic_pair, synthetic):
    vector = synthetic.X_test[0].tolist()

    probed = probe(logistic_pair[0].to_onnx(), vector)

    assert len(probed) == 3
    assert all(type(p) is float for p in probed)
    assert probed == pytest.approx(
        logistic_pair[0].predict_proba(synthetic.X_test[:1])[0].tolist(), abs=1e-6
    )


def test_finalise_refuses_a_graph_without_a_features_input(logistic_pair):
    first, _ = logistic_pair
    model = onnx.load_from_string(first.to_onnx())
    model.graph.input[0].name = "X"

    with pytest.raises(ValueError, match=r"inputs must be \['features'\], got \['X'\]"):
        finalise_onnx(model, first.config)
