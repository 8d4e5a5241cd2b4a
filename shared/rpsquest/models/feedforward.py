"""Feedforward network (`brian`, §7.1): a torch MLP whose scaler and danger adjustment live inside
the module, so the exported ONNX graph computes exactly what `predict_proba` does."""

from __future__ import annotations

import io
import math
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from rpsquest.models.common import (
    INPUT_NAME,
    N_CLASSES,
    N_FEATURES,
    OPSET,
    OUTPUT_NAME,
    as_features,
    finalise_onnx,
)
from rpsquest.models.configs import ModelConfig

MAX_EPOCHS = 200
MIN_IMPROVEMENT = 1e-6
LR_FACTOR = 0.5
MIN_LR = 1e-6


def beater_index(labels: torch.Tensor) -> torch.Tensor:
    """Index of the move that beats each move: rock->paper, paper->scissors, scissors->rock."""
    return (labels + 1) % N_CLASSES


class ProbabilityNetwork(nn.Module):
    """Scaler -> [Linear -> BatchNorm1d -> ReLU -> Dropout] per hidden size -> Linear(3), then
    softmax; with lambda > 0 the beater of the likeliest move is damped by exp(-lambda)."""

    mean: torch.Tensor
    scale: torch.Tensor
    classes: torch.Tensor

    def __init__(
        self,
        mean: np.ndarray,
        scale: np.ndarray,
        hidden: list[int],
        dropout: float,
        lambda_danger: float,
    ) -> None:
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
        self.register_buffer("classes", torch.arange(N_CLASSES))
        layers: list[nn.Module] = []
        width = N_FEATURES
        for size in hidden:
            layers += [nn.Linear(width, size), nn.BatchNorm1d(size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        layers.append(nn.Linear(width, N_CLASSES))
        self.body = nn.Sequential(*layers)
        self.danger_factor = math.exp(-lambda_danger)
        for module in self.body:
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Raw class scores of unscaled features; training's loss works on these."""
        return self.body((features - self.mean) / self.scale)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        probabilities = torch.softmax(self.logits(features), dim=1)
        if self.danger_factor == 1.0:
            return probabilities
        top = probabilities.argmax(dim=1, keepdim=True)
        damped = torch.eq(self.classes, beater_index(top)).to(probabilities.dtype)
        adjusted = probabilities * (1.0 - damped * (1.0 - self.danger_factor))
        return adjusted / adjusted.sum(dim=1, keepdim=True)


@dataclass(frozen=True)
class FeedforwardModel:
    """A trained network in eval mode, with the epoch whose weights it kept."""

    config: ModelConfig
    network: ProbabilityNetwork
    best_epoch: int
    val_losses: tuple[float, ...]

    @property
    def native(self) -> ProbabilityNetwork:
        return self.network

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.network(torch.from_numpy(as_features(X))).numpy()

    def training_metrics(self) -> dict[str, float]:
        return {"best_epoch": self.best_epoch, "epochs_run": len(self.val_losses)}

    def to_onnx(self) -> bytes:
        import onnx

        buffer = io.BytesIO()
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated in favour of dynamo, but it is the one the
            # spec verified (§14) and it needs no onnxscript.
            warnings.simplefilter("ignore", DeprecationWarning)
            # torch annotates `f` as a path only; the TorchScript exporter writes to any file.
            torch.onnx.export(
                self.network,
                (torch.zeros(2, N_FEATURES),),
                buffer,  # type: ignore[arg-type]
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        return finalise_onnx(onnx.load_from_string(buffer.getvalue()), self.config)


def fit_scaler(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and scale as StandardScaler computes them; constant features keep scale 1."""
    mean = X.mean(axis=0, dtype=np.float64)
    scale = X.std(axis=0, dtype=np.float64)
    scale[scale < 10 * np.finfo(np.float64).eps] = 1.0
    return mean, scale


@contextmanager
def _torch_threads(threads: int) -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _objective(
    network: ProbabilityNetwork, features: torch.Tensor, labels: torch.Tensor, lambda_danger: float
) -> torch.Tensor:
    """Cross-entropy plus lambda times the mean probability given to the move beating the label."""
    logits = network.logits(features)
    loss = nn.functional.cross_entropy(logits, labels)
    if lambda_danger > 0:
        danger = torch.softmax(logits, dim=1).gather(1, beater_index(labels).unsqueeze(1))
        loss = loss + lambda_danger * danger.mean()
    return loss


def train(
    config: ModelConfig,
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
    threads: int,
) -> FeedforwardModel:
    """Adam with ReduceLROnPlateau, validated every epoch; stops after `patience` epochs without
    a val-loss gain and returns the best epoch's weights."""
    params = config.params
    lambda_danger = float(params["lambda_danger"])
    batch = int(params["batch"])
    patience = int(params["patience"])
    max_epochs = int(params.get("max_epochs", MAX_EPOCHS))
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)

    with _torch_threads(threads):
        network = ProbabilityNetwork(
            *fit_scaler(X_train),
            hidden=list(params["hidden"]),
            dropout=float(params["dropout"]),
            lambda_danger=lambda_danger,
        )
        optimizer = torch.optim.Adam(
            network.parameters(), lr=float(params["lr"]), weight_decay=float(params["weight_decay"])
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer,
            factor=LR_FACTOR,
            patience=int(params["reduce_lr_patience"]),
            min_lr=MIN_LR,
        )
        features, labels = torch.from_numpy(X_train), torch.from_numpy(y_train)
        val_features, val_labels = torch.from_numpy(X_val), torch.from_numpy(y_val)

        best_loss, best_epoch = math.inf, 0
        best_state: dict[str, torch.Tensor] = {}
        val_losses: list[float] = []
        for epoch in range(1, max_epochs + 1):
            network.train()
            order = torch.from_numpy(rng.permutation(len(features)))
            for rows in order.split(batch):
                if len(rows) < 2:  # BatchNorm cannot normalise a single row
                    continue
                optimizer.zero_grad()
                _objective(network, features[rows], labels[rows], lambda_danger).backward()
                optimizer.step()

            network.eval()
            with torch.no_grad():
                val_loss = _objective(network, val_features, val_labels, lambda_danger).item()
            val_losses.append(val_loss)
            scheduler.step(val_loss)
            if val_loss < best_loss - MIN_IMPROVEMENT:
                best_loss, best_epoch = val_loss, epoch
                best_state = {name: value.clone() for name, value in network.state_dict().items()}
            elif epoch - best_epoch >= patience:
                break

        if best_epoch == 0:
            raise RuntimeError(f"{config.config_id}: validation loss never became finite")
        network.load_state_dict(best_state)
        network.eval()
    return FeedforwardModel(config, network, best_epoch, tuple(val_losses))
