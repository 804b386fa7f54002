"""Unit tests: $(VAR) expansion and argv resolution (command/args/image map) of the node agent."""

from __future__ import annotations

from typing import Any

import pytest
from scorefleet_devstack.node_agent.commands import (
    ImageNotMappedError,
    container_argv,
    expand_references,
    image_command,
)

VARS = {"POD_IP": "127.0.1.7", "PORT": "8080", "EMPTY": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("plain", "plain", id="no-reference"),
        pytest.param("$(POD_IP)", "127.0.1.7", id="whole-string"),
        pytest.param("--bind=$(POD_IP):$(PORT)", "--bind=127.0.1.7:8080", id="two-references"),
        pytest.param("$(MISSING)", "$(MISSING)", id="undefined-kept-as-written"),
        pytest.param("$$(POD_IP)", "$(POD_IP)", id="escaped-reference-is-literal"),
        pytest.param("a$$b", "a$b", id="double-dollar-is-one-dollar"),
        pytest.param("$(POD_IP", "$(POD_IP", id="unclosed-reference-kept"),
        pytest.param("cost $5", "cost $5", id="dollar-not-followed-by-paren"),
        pytest.param("trailing $", "trailing $", id="trailing-dollar"),
        pytest.param("x$(EMPTY)y", "xy", id="defined-empty"),
        pytest.param("$()", "$()", id="empty-name"),
    ],
)
def test_expand_references(text: str, expected: str) -> None:
    assert expand_references(text, variables=VARS) == expected


IMAGE_MAP = {
    "scorefleet-scorer": ["/venv/bin/scorefleet-scorer"],
    "scorefleet-scorer-debug": ["/venv/bin/scorefleet-scorer", "--debug"],
    "scorefleet-operator": ["/venv/bin/scorefleet-operator"],
}


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        pytest.param(
            "ghcr.io/x/scorefleet-scorer:1.2", ["/venv/bin/scorefleet-scorer"], id="substring-with-registry-tag"
        ),
        pytest.param("scorefleet-operator", ["/venv/bin/scorefleet-operator"], id="exact-name"),
        pytest.param("scorefleet-scorer-debug:dev", ["/venv/bin/scorefleet-scorer", "--debug"], id="longest-key-wins"),
    ],
)
def test_image_command(image: str, expected: list[str]) -> None:
    assert image_command(image, image_map=IMAGE_MAP) == expected


def test_image_command_unknown_image_names_the_fix() -> None:
    with pytest.raises(ImageNotMappedError, match=r"busybox.*set the container's command"):
        image_command("busybox:1.36", image_map=IMAGE_MAP)


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param(
            {"image": "x", "command": ["python3", "-m", "http.server"], "args": ["--bind", "$(POD_IP)"]},
            ["python3", "-m", "http.server", "--bind", "127.0.1.7"],
            id="command-and-args-expanded",
        ),
        pytest.param(
            {"image": "registry/scorefleet-scorer:v1"}, ["/venv/bin/scorefleet-scorer"], id="image-map-entrypoint"
        ),
        pytest.param(
            {"image": "scorefleet-scorer:v1", "args": ["--port=$(PORT)"]},
            ["/venv/bin/scorefleet-scorer", "--port=8080"],
            id="args-follow-mapped-command",
        ),
        pytest.param(
            {"image": "unmapped", "command": ["/bin/true"]}, ["/bin/true"], id="command-wins-over-unmapped-image"
        ),
    ],
)
def test_container_argv(container: dict[str, Any], expected: list[str]) -> None:
    assert container_argv(container, env=VARS, image_map=IMAGE_MAP) == expected
