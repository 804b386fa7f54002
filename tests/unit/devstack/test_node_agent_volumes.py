"""Unit tests: volume files (items, modes), mount plans (subPath, readOnly) and file syncing."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from scorefleet_devstack.node_agent.kubelet_server import tail_lines
from scorefleet_devstack.node_agent.runtime import termination_message
from scorefleet_devstack.node_agent.volumes import MountSpec, VolumeError, key_files, plan_mounts, write_files

DATA = {"app.yaml": b"a: 1", "log.level": b"debug"}


@pytest.mark.parametrize(
    ("items", "default_mode", "expected"),
    [
        pytest.param(None, None, {"app.yaml": (b"a: 1", 0o644), "log.level": (b"debug", 0o644)}, id="all-keys"),
        pytest.param(None, 0o400, {"app.yaml": (b"a: 1", 0o400), "log.level": (b"debug", 0o400)}, id="default-mode"),
        pytest.param(
            [{"key": "app.yaml", "path": "conf/app.yaml"}], None, {"conf/app.yaml": (b"a: 1", 0o644)}, id="item-path"
        ),
        pytest.param(
            [{"key": "log.level", "path": "level", "mode": 0o600}], 0o444, {"level": (b"debug", 0o600)}, id="item-mode"
        ),
    ],
)
def test_key_files(items: list[dict[str, Any]] | None, default_mode: int | None, expected: dict[str, Any]) -> None:
    assert key_files(DATA, items=items, default_mode=default_mode, optional=False, source="ConfigMap c") == expected


def test_key_files_missing_item_key() -> None:
    items = [{"key": "nope", "path": "x"}]
    with pytest.raises(VolumeError, match="ConfigMap c references non-existent config key: nope"):
        key_files(DATA, items=items, default_mode=None, optional=False, source="ConfigMap c")
    assert key_files(DATA, items=items, default_mode=None, optional=True, source="ConfigMap c") == {}


VOLUMES = [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "cache", "emptyDir": {}}]
DIRECTORIES = {"cfg": "/state/v/cfg", "cache": "/state/v/cache"}


@pytest.mark.parametrize(
    ("mounts", "expected"),
    [
        pytest.param(
            [{"name": "cfg", "mountPath": "/etc/app"}],
            [MountSpec("/state/v/cfg", "/etc/app", read_only=True)],
            id="config-map-always-read-only",
        ),
        pytest.param(
            [{"name": "cache", "mountPath": "/var/cache/x"}],
            [MountSpec("/state/v/cache", "/var/cache/x", read_only=False)],
            id="empty-dir-writable",
        ),
        pytest.param(
            [{"name": "cache", "mountPath": "/data", "readOnly": True}],
            [MountSpec("/state/v/cache", "/data", read_only=True)],
            id="read-only-honoured",
        ),
        pytest.param(
            [{"name": "cfg", "mountPath": "/etc/app/app.yaml", "subPath": "app.yaml"}],
            [MountSpec("/state/v/cfg/app.yaml", "/etc/app/app.yaml", read_only=True)],
            id="sub-path",
        ),
        pytest.param(
            [{"name": "cfg", "mountPath": "/a/b/c"}, {"name": "cache", "mountPath": "/a"}],
            [MountSpec("/state/v/cache", "/a", read_only=False), MountSpec("/state/v/cfg", "/a/b/c", read_only=True)],
            id="parents-mounted-first",
        ),
    ],
)
def test_plan_mounts(mounts: list[dict[str, Any]], expected: list[MountSpec]) -> None:
    container = {"name": "c", "volumeMounts": mounts}
    assert plan_mounts(container, volumes=VOLUMES, directories=DIRECTORIES) == expected


def test_plan_mounts_unknown_volume() -> None:
    with pytest.raises(VolumeError, match="'missing'"):
        plan_mounts({"name": "c", "volumeMounts": [{"name": "missing", "mountPath": "/x"}]}, volumes=[], directories={})


def test_write_files_replaces_content_and_removes_stale_files(tmp_path: Path) -> None:
    write_files(tmp_path, files={"a": (b"1", 0o644), "sub/b": (b"2", 0o600)})
    assert (tmp_path / "a").read_bytes() == b"1"
    assert stat.S_IMODE((tmp_path / "sub/b").stat().st_mode) == 0o600
    write_files(tmp_path, files={"a": (b"changed", 0o644)})
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["a"]
    assert (tmp_path / "a").read_bytes() == b"changed"


@pytest.mark.parametrize(
    ("message", "log", "fallback", "exit_code", "expected"),
    [
        pytest.param("sha256 mismatch", "log line", False, 1, "sha256 mismatch", id="file-wins"),
        pytest.param("", "l1\nl2", True, 1, "l1\nl2", id="fallback-to-logs-on-error"),
        pytest.param("", "l1\nl2", True, 0, "", id="no-fallback-on-success"),
        pytest.param("", "l1\nl2", False, 1, "", id="policy-file-only"),
        pytest.param("x" * 5000, "", False, 1, "x" * 4096, id="capped-at-4096-bytes"),
    ],
)
def test_termination_message(
    tmp_path: Path, message: str, log: str, fallback: bool, exit_code: int, expected: str
) -> None:
    (tmp_path / "termination-log").write_text(message)
    (tmp_path / "c.log").write_text(log)
    result = termination_message(
        message_path=tmp_path / "termination-log",
        log_path=tmp_path / "c.log",
        fallback_to_logs=fallback,
        exit_code=exit_code,
    )
    assert result == expected


@pytest.mark.parametrize(
    ("data", "count", "expected"),
    [
        pytest.param(b"a\nb\nc\n", 2, b"b\nc\n", id="last-two"),
        pytest.param(b"a\nb\nc", 1, b"c", id="no-trailing-newline"),
        pytest.param(b"a\n", 5, b"a\n", id="fewer-lines-than-asked"),
        pytest.param(b"a\nb\n", 0, b"", id="zero"),
    ],
)
def test_tail_lines(data: bytes, count: int, expected: bytes) -> None:
    assert tail_lines(data, count=count) == expected
