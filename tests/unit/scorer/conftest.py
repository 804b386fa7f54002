"""Fixtures of the scorer's unit tests: a small trained model artifact (real ONNX, real training)."""

from __future__ import annotations

from pathlib import Path

import pytest
from scorer.training import TrainingReport, train_default_model


@pytest.fixture(scope="session")
def trained_model(tmp_path_factory: pytest.TempPathFactory) -> TrainingReport:
    """The default model trained on 3,000 generated events (a few seconds), written as ONNX."""
    return train_default_model(Path(tmp_path_factory.mktemp("model")), events=3_000, seed=11)
