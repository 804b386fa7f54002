"""Model artifacts (fetch, sha256 check, cache) and loaders, against real files and a real HTTP server."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import joblib
import numpy as np
import pytest
from scorer.artifacts import ModelArtifactError, ModelIntegrityError, cache_path_for, fetch_artifact
from scorer.events import event_from_object
from scorer.features import FEATURE_COUNT, feature_matrix
from scorer.generator import generate_events
from scorer.model import OnnxModel, SklearnModel, load_model, warm_up
from scorer.training import TrainingReport
from sklearn.linear_model import LogisticRegression


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_store(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real static HTTP server over a directory (as the dev stack's model store): (base URL, directory)."""
    root = tmp_path / "store"
    root.mkdir()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


def test_fetch_file_uri_verifies_and_caches(trained_model: TrainingReport, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    uri = trained_model.path.as_uri()
    path = fetch_artifact(uri, sha256=trained_model.sha256, cache_dir=cache)
    assert path == cache_path_for(uri, trained_model.sha256, cache)
    assert path.suffix == ".onnx"
    assert hashlib.sha256(path.read_bytes()).hexdigest() == trained_model.sha256
    assert fetch_artifact(uri, sha256=trained_model.sha256, cache_dir=cache) == path  # cache hit
    assert [p.name for p in cache.iterdir()] == [path.name]  # no temporary files left


def test_fetch_http_uri(trained_model: TrainingReport, tmp_path: Path, http_store: tuple[str, Path]) -> None:
    base, root = http_store
    (root / trained_model.path.name).write_bytes(trained_model.path.read_bytes())
    path = fetch_artifact(f"{base}/{trained_model.path.name}", sha256=trained_model.sha256, cache_dir=tmp_path / "c")
    assert load_model(path).predict_scores(np.zeros((2, FEATURE_COUNT), np.float32)).shape == (2,)


def test_sha256_mismatch_is_refused_and_not_cached(trained_model: TrainingReport, tmp_path: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(
        ModelIntegrityError, match=f"model sha256 mismatch: expected {wrong} got {trained_model.sha256}"
    ):
        fetch_artifact(trained_model.path.as_uri(), sha256=wrong, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_tampered_cache_entry_is_fetched_again(trained_model: TrainingReport, tmp_path: Path) -> None:
    uri = trained_model.path.as_uri()
    cached = cache_path_for(uri, trained_model.sha256, tmp_path)
    cached.write_bytes(b"tampered")
    assert fetch_artifact(uri, sha256=trained_model.sha256, cache_dir=tmp_path) == cached
    assert hashlib.sha256(cached.read_bytes()).hexdigest() == trained_model.sha256


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        pytest.param("s3://bucket/model.onnx", "scheme must be", id="unsupported-scheme"),
        pytest.param("file:///nonexistent/model.onnx", "no such file", id="missing-file"),
    ],
)
def test_fetch_errors(uri: str, message: str, tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match=message):
        fetch_artifact(uri, sha256="0" * 64, cache_dir=tmp_path)


def test_http_404_is_not_retried(tmp_path: Path, http_store: tuple[str, Path]) -> None:
    base, _ = http_store
    with pytest.raises(ModelArtifactError, match="HTTP 404"):
        fetch_artifact(f"{base}/missing.onnx", sha256="0" * 64, cache_dir=tmp_path, backoff_seconds=0.01)


def test_http_unreachable_retries_then_fails(tmp_path: Path) -> None:
    with pytest.raises(ModelArtifactError, match="after 2 attempts"):
        fetch_artifact(
            "http://127.0.0.1:9/m.onnx",
            sha256="0" * 64,
            cache_dir=tmp_path,
            attempts=2,
            backoff_seconds=0.01,
            timeout_seconds=1.0,
        )


def test_trained_onnx_model_scores(trained_model: TrainingReport) -> None:
    model = load_model(trained_model.path)
    assert isinstance(model, OnnxModel)
    warm_up(model)
    items = list(generate_events(400, seed=99))
    scores = model.predict_scores(feature_matrix([event_from_object(item.event) for item in items]))
    assert scores.shape == (400,)
    assert np.all((scores >= 0) & (scores <= 1))
    labels = np.asarray([item.label for item in items])
    accuracy = float(np.mean((scores >= 0.5) == labels))
    assert accuracy > 0.9
    assert 0.8 < trained_model.precision <= 1.0 and 0.8 < trained_model.recall <= 1.0


def test_joblib_model_loads_and_scores(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    features = rng.random((50, FEATURE_COUNT), dtype=np.float32)
    estimator = LogisticRegression().fit(features, (features[:, 0] > 0.5).astype(int))
    path = tmp_path / "model.joblib"
    joblib.dump(estimator, path)
    model = load_model(path)
    assert isinstance(model, SklearnModel)
    warm_up(model)
    assert model.predict_scores(features).shape == (50,)


def test_wrong_feature_width_is_refused(tmp_path: Path) -> None:
    estimator = LogisticRegression().fit(np.eye(4), [0, 1, 0, 1])
    path = tmp_path / "narrow.joblib"
    joblib.dump(estimator, path)
    with pytest.raises(ModelArtifactError, match="expects 4 features"):
        load_model(path)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        pytest.param("model.bin", b"x", "unknown format", id="unknown-suffix"),
        pytest.param("model.onnx", b"not onnx", "cannot load ONNX", id="corrupt-onnx"),
        pytest.param("model.joblib", b"not a pickle", "cannot load joblib", id="corrupt-joblib"),
    ],
)
def test_bad_artifacts(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelArtifactError, match=message):
        load_model(path)
