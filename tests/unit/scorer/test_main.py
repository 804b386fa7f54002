"""The command line: train prints its JSON line; run refuses a bad artifact with a termination message."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from scorer.main import main
from scorer.training import TrainingReport


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    """main() installs its own root handler (as a process would); put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_train_prints_artifact_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--out", str(tmp_path), "--events", "1500", "--seed", "3", "--version", "t1"]) == 0
    captured = capsys.readouterr()
    last = json.loads(captured.out.strip().splitlines()[-1])
    assert set(last) >= {"path", "sha256", "name", "version"}
    assert last["name"] == "phishing-linear" and last["version"] == "t1"
    assert Path(last["path"]) == tmp_path / "phishing-linear-t1.onnx"
    assert hashlib.sha256(Path(last["path"]).read_bytes()).hexdigest() == last["sha256"]
    assert "precision" in captured.err and "recall" in captured.err


def test_generate_json_lines(capsysbinary: pytest.CaptureFixture[bytes]) -> None:
    assert main(["generate", "--count", "3", "--seed", "5"]) == 0
    lines = capsysbinary.readouterr().out.splitlines()
    assert len(lines) == 3
    assert json.loads(lines[0])["message_id"] == "5-0@gen.scorefleet"


def _serving_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, uri: str, sha256: str) -> Path:
    termination_log = tmp_path / "termination-log"
    env = {
        "SCORER_MODEL_NAME": "phishing-linear",
        "SCORER_MODEL_VERSION": "1",
        "SCORER_MODEL_URI": uri,
        "SCORER_MODEL_SHA256": sha256,
        "SCORER_MODEL_CACHE_DIR": str(tmp_path / "cache"),
        "SCORER_HTTP_HOST": "127.0.0.1",
        "SCORER_HTTP_PORT": "0",
        "SCORER_TERMINATION_LOG_PATH": str(termination_log),
        "SCORER_BOOTSTRAP_SERVERS": "127.0.0.1:9",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return termination_log


def test_run_refuses_sha256_mismatch(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, trained_model: TrainingReport
) -> None:
    wrong = "f" * 64
    termination_log = _serving_env(monkeypatch, tmp_path, uri=trained_model.path.as_uri(), sha256=wrong)
    assert main(["run"]) == 1
    assert termination_log.read_text().startswith(f"model sha256 mismatch: expected {wrong} got {trained_model.sha256}")


def test_run_refuses_missing_model_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    termination_log = _serving_env(monkeypatch, tmp_path, uri="", sha256="")
    assert main([]) == 1
    assert "SCORER_MODEL_URI" in termination_log.read_text()


def test_run_refuses_a_port_in_use(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        termination_log = _serving_env(monkeypatch, tmp_path, uri="file:///m.onnx", sha256="a" * 64)
        monkeypatch.setenv("SCORER_HTTP_PORT", str(taken.getsockname()[1]))
        assert main(["run"]) == 1
    assert "SCORER_HTTP_PORT" in termination_log.read_text()
