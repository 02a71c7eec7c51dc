"""End models distilled from probabilistic labels: the paper's MLP and logistic regression.

The MLP is ALCHEmist's (Huang et al., 2024): two hidden layers of 32 units with ReLU.
Both models train on *soft* labels (cross-entropy against the label model's
probabilities), with Adam, on CUDA when present. A dev split, when given, picks the
epoch with the best dev accuracy (WRENCH's model selection); test never does.

Saved models are a folder holding ``model.safetensors`` (tensors only) and
``config.json`` (architecture, classes, featurizer state): no pickle anywhere, and
loading cannot execute code.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..labelers import SCHEMA_VERSION, ModelError, TaskSpec
from .aggregate import resolve_device
from .evaluate import mean_std, score, tie_break

END_MODELS = ("mlp", "lr")
HIDDEN = (32, 32)
#: Training defaults, per kind: (epochs, learning rate).
DEFAULTS = {"mlp": (100, 1e-3), "lr": (100, 1e-2)}
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def _build(kind: str, in_dim: int, n_classes: int) -> Any:
    import torch.nn as nn

    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(in_dim, HIDDEN[0]), nn.ReLU(),
            nn.Linear(HIDDEN[0], HIDDEN[1]), nn.ReLU(),
            nn.Linear(HIDDEN[1], n_classes),
        )
    if kind == "lr":
        return nn.Sequential(nn.Linear(in_dim, n_classes))
    raise ModelError(f"unknown end model {kind!r}: choose one of {', '.join(END_MODELS)}")


class EndModel:
    """A trained end model: ``predict_proba(X)``, ``predict(X)``, ``save(dir)``, ``load(dir)``."""

    def __init__(
        self, kind: str, in_dim: int, n_classes: int, *, device: str = "auto",
        featurizer: dict[str, Any] | None = None, metadata: dict[str, Any] | None = None,
    ) -> None:
        self.kind = kind
        self.in_dim = in_dim
        self.n_classes = n_classes
        self.device = resolve_device(device)
        self.net = _build(kind, in_dim, n_classes).to(self.device)
        self.featurizer = featurizer
        self.metadata = dict(metadata or {})

    def predict_proba(self, X: np.ndarray, *, batch_size: int = 8192) -> np.ndarray:
        import torch

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.in_dim:
            raise ModelError(
                f"this {self.kind} end model takes {self.in_dim} features per row, got shape {X.shape}"
            )
        self.net.eval()
        out = []
        with torch.no_grad():
            for s in range(0, len(X), batch_size):
                xb = torch.from_numpy(X[s : s + batch_size]).to(self.device)
                out.append(torch.softmax(self.net(xb), dim=1).cpu().numpy())
        if not out:
            return np.zeros((0, self.n_classes))
        return np.concatenate(out).astype(np.float64)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return tie_break(self.predict_proba(X))

    def save(self, path: str | Path) -> Path:
        from safetensors.torch import save_file

        d = Path(path)
        d.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}
        save_file(state, str(d / WEIGHTS_FILE))
        config = {
            "schema_version": SCHEMA_VERSION,
            "kind": self.kind,
            "in_dim": self.in_dim,
            "n_classes": self.n_classes,
            "hidden": list(HIDDEN) if self.kind == "mlp" else [],
            "featurizer": self.featurizer,
            "metadata": self.metadata,
        }
        (d / CONFIG_FILE).write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
        return d

    @classmethod
    def load(cls, path: str | Path, *, device: str = "auto") -> EndModel:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        d = Path(path)
        try:
            config = json.loads((d / CONFIG_FILE).read_text())
        except FileNotFoundError:
            raise ModelError(
                f"{d}: not a saved end model (no {CONFIG_FILE}); train one with "
                "`alchemist-engine label --save-model DIR`"
            ) from None
        except json.JSONDecodeError as exc:
            raise ModelError(f"{d / CONFIG_FILE}: not valid JSON: {exc}") from exc
        if config.get("schema_version") != SCHEMA_VERSION:
            raise ModelError(
                f"{d}: end model schema_version {config.get('schema_version')} is not "
                f"{SCHEMA_VERSION}; retrain it with this version"
            )
        model = cls(
            str(config["kind"]), int(config["in_dim"]), int(config["n_classes"]), device=device,
            featurizer=config.get("featurizer"), metadata=config.get("metadata"),
        )
        try:
            state = load_file(str(d / WEIGHTS_FILE), device=model.device)
            model.net.load_state_dict(state)
        except (FileNotFoundError, SafetensorError, RuntimeError) as exc:
            raise ModelError(f"{d}: cannot load the end model weights: {exc}") from exc
        return model


def train_end_model(
    X_train: np.ndarray,
    probs_train: np.ndarray,
    *,
    kind: str = "mlp",
    seed: int = 0,
    device: str = "auto",
    epochs: int | None = None,
    lr: float | None = None,
    batch_size: int = 128,
    weight_decay: float = 1e-4,
    X_dev: np.ndarray | None = None,
    y_dev: np.ndarray | None = None,
) -> EndModel:
    """Train ``kind`` on soft labels ``probs_train`` (rows sum to 1); deterministic per seed."""
    import torch

    if kind not in END_MODELS:
        raise ModelError(f"unknown end model {kind!r}: choose one of {', '.join(END_MODELS)}")
    X = np.asarray(X_train, dtype=np.float32)
    P = np.asarray(probs_train, dtype=np.float32)
    if X.ndim != 2 or P.ndim != 2 or len(X) != len(P):
        raise ModelError(f"X_train {X.shape} and probs_train {P.shape} must be 2-D with equal rows")
    if len(X) == 0:
        raise ModelError("no training rows: every labeler abstained on the whole train split")
    default_epochs, default_lr = DEFAULTS[kind]
    epochs = default_epochs if epochs is None else epochs
    lr = default_lr if lr is None else lr

    torch.manual_seed(seed)
    model = EndModel(kind, X.shape[1], P.shape[1], device=device)
    dev = model.device
    Xt, Pt = torch.from_numpy(X).to(dev), torch.from_numpy(P).to(dev)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    opt = torch.optim.Adam(model.net.parameters(), lr=lr, weight_decay=weight_decay)
    best: tuple[float, dict[str, Any]] | None = None
    for _ in range(epochs):
        model.net.train()
        order = torch.randperm(len(X), generator=gen).to(dev)
        for s in range(0, len(X), batch_size):
            idx = order[s : s + batch_size]
            logp = torch.log_softmax(model.net(Xt[idx]), dim=1)
            loss = -(Pt[idx] * logp).sum(dim=1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        if X_dev is not None and y_dev is not None:
            acc = float(np.mean(model.predict(X_dev) == np.asarray(y_dev)))
            if best is None or acc > best[0]:
                best = (acc, {k: v.detach().clone() for k, v in model.net.state_dict().items()})
    if best is not None:
        model.net.load_state_dict(best[1])
        model.metadata["dev_accuracy"] = best[0]
    model.metadata.update({"seed": seed, "epochs": epochs, "lr": lr, "train_rows": len(X)})
    return model


def distill(
    X_train: np.ndarray,
    probs: np.ndarray,
    X_test: np.ndarray,
    y_test: np.ndarray,
    *,
    task: TaskSpec,
    kind: str = "mlp",
    seeds: int = 3,
    device: str = "auto",
    X_dev: np.ndarray | None = None,
    y_dev: np.ndarray | None = None,
    **train_options: Any,
) -> dict[str, Any]:
    """Train ``seeds`` end models (seeds 0..N-1) and score each on test: mean ± std.

    Returns ``accuracy_mean``, ``accuracy_std``, ``f1_mean``, ``f1_std``, the per-seed
    ``runs`` and ``train_seconds`` (total).
    """
    if seeds < 1:
        raise ModelError(f"--seeds must be at least 1, got {seeds}")
    runs = []
    t0 = time.perf_counter()
    for seed in range(seeds):
        model = train_end_model(
            X_train, probs, kind=kind, seed=seed, device=device, X_dev=X_dev, y_dev=y_dev,
            **train_options,
        )
        runs.append(score(y_test, model.predict(X_test), task=task))
    out: dict[str, Any] = mean_std(runs)
    out["runs"] = runs
    out["train_seconds"] = round(time.perf_counter() - t0, 3)
    return out


def predict_table(
    model_dir: str | Path, table: Any, *, cache: Any = None, device: str = "auto"
) -> tuple[EndModel, np.ndarray]:
    """Load a saved end model and its featurizer; ``(model, probs)`` for every row of ``table``.

    The featurizer state saved with the model (TF-IDF vocabulary, MiniLM, or the vector
    column's name) rebuilds exactly the features it was trained on.
    """
    from .features import Featurizer

    model = EndModel.load(model_dir, device=device)
    if not model.featurizer:
        raise ModelError(
            f"{model_dir}: the end model has no saved featurizer, so its input features are "
            "unknown; retrain it with `alchemist-engine label --save-model DIR`"
        )
    featurizer = Featurizer.from_json(model.featurizer, device=device, cache=cache)
    return model, model.predict_proba(featurizer.transform(table))
