"""satisfies(): drift is a changed or missing applied field, not an added one."""

from __future__ import annotations

from typing import Any

import pytest
from detection_operator.drift import satisfies

DESIRED = {
    "metadata": {"name": "a", "labels": {"x": "1"}},
    "spec": {"ports": [{"name": "m", "port": 9102}], "paused": False},
}


@pytest.mark.parametrize(
    ("actual", "expected"),
    [
        pytest.param(DESIRED, True, id="identical"),
        pytest.param(
            {"metadata": {"name": "a", "labels": {"x": "1", "y": "2"}, "resourceVersion": "9"},
             "spec": {"ports": [{"name": "m", "port": 9102, "protocol": "TCP"}], "paused": False, "extra": 1},
             "status": {}},
            True, id="server-added-fields-ignored",
        ),
        pytest.param({**DESIRED, "spec": {"ports": [{"name": "m", "port": 80}], "paused": False}}, False,
                     id="changed-list-element"),
        pytest.param({**DESIRED, "spec": {"ports": [], "paused": False}}, False, id="removed-list-element"),
        pytest.param({**DESIRED, "spec": {"ports": [{"name": "m", "port": 9102}]}}, False, id="missing-field"),
        pytest.param({**DESIRED, "metadata": {"name": "a", "labels": {"x": "2"}}}, False, id="changed-label"),
        pytest.param({**DESIRED, "spec": {"ports": [{"name": "m", "port": 9102}], "paused": True}}, False,
                     id="changed-bool"),
    ],
)
def test_satisfies(actual: dict[str, Any], expected: bool) -> None:
    assert satisfies(DESIRED, actual) is expected
