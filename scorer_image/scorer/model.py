"""Model loaders by format and batch prediction: features (n, F) float32 -> scores (n,) in [0, 1].

- ONNX (``.onnx``) through onnxruntime, one intra-op thread (the machine's other core belongs to
  librdkafka and the broker); the default model is a skl2onnx export with probabilities as a
  plain tensor (no ZipMap).
- scikit-learn (``.joblib``/``.pkl``) through joblib: any estimator with ``predict_proba``.
  Only load joblib artifacts whose sha256 you trust: unpickling runs code.

The loader checks the model's input width against ``features.FEATURE_COUNT`` and runs a warm-up
prediction before the scorer reports ready.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scorer.artifacts import ModelArtifactError
from scorer.features import FEATURE_COUNT


class ScoringModel(Protocol):
    """What the loop needs from a model."""

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        """Scores of shape (n,), float, for features of shape (n, FEATURE_COUNT) float32."""
        ...


class OnnxModel:
    """An ONNX classifier served by onnxruntime; the malicious class is column 1 of the probabilities."""

    def __init__(self, path: Path, *, intra_op_threads: int = 1) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        try:
            self._session = onnxruntime.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as error:  # onnxruntime raises its own untyped errors
            raise ModelArtifactError(f"cannot load ONNX model {path}: {error}") from error
        inputs = self._session.get_inputs()
        self._input_name = inputs[0].name
        width = inputs[0].shape[-1]
        if isinstance(width, int) and width != FEATURE_COUNT:
            raise ModelArtifactError(
                f"ONNX model {path} expects {width} features, this scorer computes {FEATURE_COUNT}"
            )
        outputs = [output.name for output in self._session.get_outputs()]
        self._output_name = "probabilities" if "probabilities" in outputs else outputs[-1]

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        """Probability of the malicious class per row, shape (n,)."""
        probabilities = self._session.run([self._output_name], {self._input_name: features})[0]
        return np.asarray(probabilities)[:, 1]


class SklearnModel:
    """A scikit-learn estimator saved with joblib; uses ``predict_proba(X)[:, 1]``."""

    def __init__(self, path: Path) -> None:
        import joblib

        try:
            self._estimator: Any = joblib.load(path)
        except Exception as error:  # unpickling raises anything
            raise ModelArtifactError(f"cannot load joblib model {path}: {error}") from error
        if not hasattr(self._estimator, "predict_proba"):
            raise ModelArtifactError(f"joblib model {path} has no predict_proba")
        width = getattr(self._estimator, "n_features_in_", FEATURE_COUNT)
        if width != FEATURE_COUNT:
            raise ModelArtifactError(f"model {path} expects {width} features, this scorer computes {FEATURE_COUNT}")

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        """Probability of the malicious class per row, shape (n,)."""
        return np.asarray(self._estimator.predict_proba(features))[:, 1]


def load_model(path: Path) -> ScoringModel:
    """Load a verified artifact by its suffix (.onnx, .joblib, .pkl). Raises ModelArtifactError."""
    suffix = path.suffix.lower()
    if suffix == ".onnx":
        return OnnxModel(path)
    if suffix in (".joblib", ".pkl"):
        return SklearnModel(path)
    raise ModelArtifactError(f"model {path}: unknown format {suffix!r}; use .onnx, .joblib or .pkl")


def warm_up(model: ScoringModel, *, rows: int = 8) -> None:
    """Run one prediction on zero features so the first real batch does not pay for lazy initialisation.

    Raises ModelArtifactError when the model cannot predict or returns scores outside [0, 1].
    """
    try:
        scores = model.predict_scores(np.zeros((rows, FEATURE_COUNT), dtype=np.float32))
    except Exception as error:
        raise ModelArtifactError(f"model warm-up prediction failed: {error}") from error
    if scores.shape != (rows,) or not np.all((scores >= 0.0) & (scores <= 1.0)):
        raise ModelArtifactError(f"model warm-up returned {scores.shape} scores outside [0, 1]")
