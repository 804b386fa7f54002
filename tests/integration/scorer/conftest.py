"""Fixtures of the scorer's integration tests: a trained model and fresh topics on the real broker."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from scorer.training import TrainingReport, train_default_model

from tests.integration.scorer.support import Topics


@pytest.fixture(scope="session")
def model_artifact(tmp_path_factory: pytest.TempPathFactory) -> TrainingReport:
    """The default model, trained on 3,000 generated events, as a real ONNX file."""
    return train_default_model(Path(tmp_path_factory.mktemp("model")), events=3_000, seed=11)


@pytest.fixture
def topics(topic_factory: Callable[..., str], request: pytest.FixtureRequest) -> Topics:
    """Fresh topics; the input's partition count is ``n`` of ``parametrize("topics", [n], indirect=True)``."""
    partitions = getattr(request, "param", 1)
    return Topics(
        input=topic_factory(partitions=partitions, prefix="scorer-in"),
        output=topic_factory(partitions=1, prefix="scorer-out"),
        dead_letter=topic_factory(partitions=1, prefix="scorer-dlq"),
        partitions=partitions,
    )
