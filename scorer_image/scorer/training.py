"""Train the default demonstration model from generated events and write it as an ONNX artifact.

``scorefleet-scorer train --out DIR`` calls ``train_default_model``: generate labelled events
(seeded), extract features, fit a logistic regression (standardised inputs), report held-out
precision and recall, export through skl2onnx (probabilities as a plain tensor) and name the
file ``<name>-<version>.onnx``. The model is a demonstration; the serving path is the product.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scorer.artifacts import sha256_of_file
from scorer.events import event_from_object
from scorer.features import FEATURE_COUNT, feature_matrix
from scorer.generator import generate_events

DEFAULT_MODEL_NAME = "phishing-linear"
DEFAULT_MODEL_VERSION = "2026.11.1"


@dataclass(frozen=True)
class TrainingReport:
    """What ``train_default_model`` wrote and how well it did on held-out events."""

    path: Path
    sha256: str
    name: str
    version: str
    precision: float
    recall: float
    train_events: int
    test_events: int


def train_default_model(
    out_dir: Path,
    *,
    events: int = 20_000,
    seed: int = 7,
    name: str = DEFAULT_MODEL_NAME,
    version: str = DEFAULT_MODEL_VERSION,
    test_fraction: float = 0.25,
) -> TrainingReport:
    """Fit and export the default model; returns the artifact path, sha256 and held-out metrics.

    Deterministic for a given seed (the same events, split and solver); the ONNX bytes, and so the
    sha256, are stable across runs with the same library versions.
    """
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import precision_score, recall_score
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labelled = list(generate_events(events, seed=seed))
    features = feature_matrix([event_from_object(item.event) for item in labelled])
    labels = np.asarray([item.label for item in labelled], dtype=np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        features, labels, test_size=test_fraction, random_state=seed, stratify=labels
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, C=1.0))
    model.fit(x_train, y_train)
    predicted = model.predict(x_test)
    precision = float(precision_score(y_test, predicted))
    recall = float(recall_score(y_test, predicted))

    onnx_model = to_onnx(
        model,
        np.zeros((1, FEATURE_COUNT), dtype=np.float32),
        options={id(model.steps[-1][1]): {"zipmap": False}},
        target_opset=17,
    )
    onnx_model.doc_string = f"{name} {version}: scorefleet default demonstration model"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}-{version}.onnx"
    path.write_bytes(onnx_model.SerializeToString())
    return TrainingReport(
        path=path,
        sha256=sha256_of_file(path),
        name=name,
        version=version,
        precision=precision,
        recall=recall,
        train_events=len(y_train),
        test_events=len(y_test),
    )
