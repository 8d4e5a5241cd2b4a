"""What the three model families share: the trained-model interface, data checks and the ONNX
conventions serving relies on (input `features`, output `probabilities`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from rpsquest import FEATURE_CONTRACT
from rpsquest.features import N_FEATURES
from rpsquest.models.configs import ModelConfig

if TYPE_CHECKING:
    import onnx

N_CLASSES = 3
INPUT_NAME = "features"
OUTPUT_NAME = "probabilities"
# onnxmltools 1.16 converts XGBoost up to opset 15, so every family is exported at 15.
OPSET = 15


class TrainedModel(Protocol):
    """A fitted model of any family: native predictions plus its ONNX export."""

    @property
    def config(self) -> ModelConfig:
        """The config it was trained with."""
        ...

    @property
    def native(self) -> Any:
        """The framework object, for the MLflow flavour of its family."""
        ...

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(rock, paper, scissors) per row, float32 [n, 3]."""
        ...

    def training_metrics(self) -> dict[str, float]:
        """Facts about the fit worth logging, e.g. `best_epoch` or `best_iteration`."""
        ...

    def to_onnx(self) -> bytes:
        """The serialised ONNX graph serving runs."""
        ...


def as_features(X: npt.ArrayLike) -> np.ndarray:
    """Float32, C-ordered [n, N_FEATURES]: the one input layout every family and ONNX accept."""
    array = np.ascontiguousarray(X, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != N_FEATURES:
        raise ValueError(f"features must have shape [n, {N_FEATURES}], got {array.shape}")
    return array


def as_labels(y: np.ndarray, n_rows: int) -> np.ndarray:
    """Int64 labels 0=rock, 1=paper, 2=scissors, one per feature row."""
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise ValueError(f"labels must have shape ({n_rows},), got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got {labels.dtype}")
    if n_rows and (labels.min() < 0 or labels.max() >= N_CLASSES):
        raise ValueError("labels must be 0 (rock), 1 (paper) or 2 (scissors)")
    return labels.astype(np.int64)


def check_training_data(
    X_train: np.ndarray, y_train: np.ndarray, X_val: np.ndarray, y_val: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validate and convert a train/validation split; every class must occur in training,
    otherwise a family would learn fewer than three outputs."""
    X_train, X_val = as_features(X_train), as_features(X_val)
    y_train, y_val = as_labels(y_train, len(X_train)), as_labels(y_val, len(X_val))
    if len(X_val) == 0:
        raise ValueError("the validation split is empty")
    missing = sorted(set(range(N_CLASSES)) - set(np.unique(y_train).tolist()))
    if missing:
        raise ValueError(f"classes {missing} never occur in the training split")
    return X_train, y_train, X_val, y_val


def float_interface(model: onnx.ModelProto) -> onnx.ModelProto:
    """A double-precision graph behind the float32 interface serving feeds: `features` is cast
    to double on the way in and `probabilities` back to float32 on the way out."""
    import onnx  # only exporters need it; serving imports this module without it

    graph = model.graph
    inner = {INPUT_NAME: f"{INPUT_NAME}_double", OUTPUT_NAME: f"{OUTPUT_NAME}_double"}
    for node in graph.node:
        node.input[:] = [inner.get(name, name) for name in node.input]
        node.output[:] = [inner.get(name, name) for name in node.output]
    cast_in = onnx.helper.make_node(
        "Cast", [INPUT_NAME], [inner[INPUT_NAME]], to=onnx.TensorProto.DOUBLE
    )
    cast_out = onnx.helper.make_node(
        "Cast", [inner[OUTPUT_NAME]], [OUTPUT_NAME], to=onnx.TensorProto.FLOAT
    )
    graph.node.insert(0, cast_in)
    graph.node.append(cast_out)
    for value in (*graph.input, *graph.output):
        if value.name in (INPUT_NAME, OUTPUT_NAME):
            value.type.tensor_type.elem_type = onnx.TensorProto.FLOAT
    return model


def finalise_onnx(model: onnx.ModelProto, config: ModelConfig) -> bytes:
    """Bring a converter's graph to the serving contract: the single input `features`, the single
    output `probabilities` (extra outputs such as `label` and the nodes only they need are
    dropped), one opset entry per domain, metadata naming the feature contract, and no random
    names, so the same fitted model always serialises to the same bytes."""
    import onnx  # only exporters need it; serving imports this module without it

    graph = model.graph
    inputs = [value.name for value in graph.input]
    if inputs != [INPUT_NAME]:
        raise ValueError(f"ONNX graph inputs must be [{INPUT_NAME!r}], got {inputs}")
    kept = [value for value in graph.output if value.name == OUTPUT_NAME]
    if not kept:
        outputs = [value.name for value in graph.output]
        raise ValueError(f"ONNX graph has no {OUTPUT_NAME!r} output, only {outputs}")
    del graph.output[:]
    graph.output.extend(kept)
    _prune_dead_nodes(graph)

    versions: dict[str, int] = {}
    for entry in model.opset_import:
        versions[entry.domain] = max(entry.version, versions.get(entry.domain, 0))
    versions[""] = max(versions.get("", 0), OPSET)
    del model.opset_import[:]
    model.opset_import.extend(onnx.helper.make_opsetid(d, v) for d, v in sorted(versions.items()))

    graph.name = f"{config.family}_{config.config_id}"  # converters may put a random uuid here
    onnx.helper.set_model_props(
        model,
        {
            "feature_contract": FEATURE_CONTRACT,
            "family": config.family,
            "config_id": config.config_id,
        },
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _prune_dead_nodes(graph: onnx.GraphProto) -> None:
    """Drop nodes whose outputs no kept output depends on."""
    needed = {value.name for value in graph.output}
    live: list[onnx.NodeProto] = []
    for node in reversed(graph.node):
        if needed.intersection(node.output):
            live.append(node)
            needed.update(name for name in node.input if name)
    del graph.node[:]
    graph.node.extend(reversed(live))
    for field in (graph.initializer, graph.value_info):
        for item in [item for item in field if item.name not in needed]:
            field.remove(item)
