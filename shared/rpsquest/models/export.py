"""Running exported graphs the way serving does (onnxruntime, CPU, one thread each way): the
parity gate a model must pass before it is published, and the probe recorded next to it (§8.2)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from rpsquest.models.common import (
    INPUT_NAME,
    N_CLASSES,
    OUTPUT_NAME,
    TrainedModel,
    as_features,
)

PARITY_TOLERANCE = 1e-5
RANDOM_ROWS = 1000
PARITY_SEED = 2024


class ParityError(RuntimeError):
    """The ONNX graph disagrees with the native model, or breaks the serving contract."""


def create_session(onnx_bytes: bytes) -> ort.InferenceSession:
    """A CPU session with one intra-op and one inter-op thread, as play runs it."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(onnx_bytes, options, providers=["CPUExecutionProvider"])


def predict_onnx(session: ort.InferenceSession, X: npt.ArrayLike) -> np.ndarray:
    """The graph's `probabilities` for float32 [n, N_FEATURES] features."""
    (probabilities,) = session.run([OUTPUT_NAME], {INPUT_NAME: as_features(X)})
    return probabilities


def sample_rows(X: np.ndarray, n_rows: int, seed: int) -> np.ndarray:
    """Seeded synthetic rows around `X`: half mix real columns (each value drawn from that
    column), half are uniform within each column's observed range."""
    X = as_features(X)
    if len(X) == 0:
        raise ValueError("at least one real row is needed to sample around")
    rng = np.random.default_rng(seed)
    n_mixed = n_rows // 2
    mixed = X[rng.integers(0, len(X), size=(n_mixed, X.shape[1])), np.arange(X.shape[1])]
    uniform = rng.uniform(X.min(axis=0), X.max(axis=0), size=(n_rows - n_mixed, X.shape[1]))
    return np.concatenate([mixed, uniform]).astype(np.float32)


def parity_check(
    trained: TrainedModel, onnx_bytes: bytes, X: np.ndarray, seed: int = PARITY_SEED
) -> float:
    """Max |p_native - p_onnx| over the given rows plus 1,000 seeded random ones, both sides fed
    the same float32 array; raises ParityError at or above 1e-5 or on a broken interface."""
    rows = np.concatenate([as_features(X), sample_rows(X, RANDOM_ROWS, seed)])
    session = create_session(onnx_bytes)
    inputs = [value.name for value in session.get_inputs()]
    outputs = [value.name for value in session.get_outputs()]
    if inputs != [INPUT_NAME] or OUTPUT_NAME not in outputs:
        raise ParityError(
            f"ONNX graph must take [{INPUT_NAME!r}] and give {OUTPUT_NAME!r}; "
            f"it takes {inputs} and gives {outputs}"
        )
    expected = trained.predict_proba(rows)
    actual = predict_onnx(session, rows)
    if actual.shape != (len(rows), N_CLASSES) or actual.dtype != np.float32:
        raise ParityError(
            f"ONNX probabilities are {actual.dtype} {actual.shape}, not float32 [n, 3]"
        )
    difference = float(np.max(np.abs(expected.astype(np.float64) - actual)))
    if not difference < PARITY_TOLERANCE:  # also catches NaN
        raise ParityError(
            f"{trained.config.config_id}: ONNX differs from the native model by {difference:.3g} "
            f"on {len(rows)} vectors (tolerance {PARITY_TOLERANCE:g})"
        )
    return difference


def probe(onnx_bytes: bytes, vector: Sequence[float]) -> list[float]:
    """The graph's output on one feature vector, e.g. §6's probe vector recorded in the manifest."""
    row = np.asarray([vector], dtype=np.float32)
    return [float(p) for p in predict_onnx(create_session(onnx_bytes), row)[0]]
