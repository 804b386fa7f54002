"""Packaging checks that need no helm and no stack: the chart's CRD copy, the images' entry
commands and dependencies, and the chart's default image names.

The dev stack's node agent runs `<venv>/bin/<console script>` for an image whose name contains the
script's name; the images run the same console script as their ENTRYPOINT, so what the tests
exercise locally is what a cluster runs.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import shlex
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from detection_operator.settings import DEFAULT_SCORER_IMAGE
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "charts" / "scorefleet"
CRD_FILE = "detectionpipelines.scorefleet.io.yaml"


@dataclass(frozen=True)
class Image:
    """An image the project ships: its Dockerfile, console script and the script's entry point."""

    dockerfile: Path
    script: str
    entry_point: str


IMAGES = [
    pytest.param(Image(REPO / "Dockerfile", "scorefleet-operator", "detection_operator.main:main"), id="operator"),
    pytest.param(Image(REPO / "scorer_image" / "Dockerfile", "scorefleet-scorer", "scorer.main:main"), id="scorer"),
]


@dataclass(frozen=True)
class Instruction:
    keyword: str
    value: str


def parse_dockerfile(path: Path) -> list[list[Instruction]]:
    """The Dockerfile's instructions (continuations joined, comments dropped), split into stages."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    stages: list[list[Instruction]] = [[]]
    for line in lines:
        keyword, _, value = line.partition(" ")
        instruction = Instruction(keyword.upper(), value.strip())
        if instruction.keyword == "FROM":
            stages.append([])
        stages[-1].append(instruction)
    return stages


def build_args(stages: list[list[Instruction]]) -> dict[str, str]:
    """Global ARG defaults (before the first FROM)."""
    out = {}
    for instruction in stages[0]:
        if instruction.keyword == "ARG" and "=" in instruction.value:
            name, _, default = instruction.value.partition("=")
            out[name] = default.strip().strip('"')
    return out


def final_stage(path: Path) -> list[Instruction]:
    return parse_dockerfile(path)[-1]


def project_scripts() -> dict[str, str]:
    return dict(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"])


def test_chart_crd_is_the_generated_crd() -> None:
    """charts/scorefleet/crds/ holds a byte-for-byte copy of the generated CRD (`cp crds/*.yaml` to sync)."""
    generated = (REPO / "crds" / CRD_FILE).read_bytes()
    copied = (CHART / "crds" / CRD_FILE).read_bytes()
    assert copied == generated, (
        f"charts/scorefleet/crds/{CRD_FILE} differs from crds/{CRD_FILE}; "
        f"run: cp crds/{CRD_FILE} charts/scorefleet/crds/"
    )


@pytest.mark.parametrize("image", IMAGES)
def test_entrypoint_is_the_console_script_the_dev_stack_runs(image: Image) -> None:
    entrypoints = [i.value for i in final_stage(image.dockerfile) if i.keyword == "ENTRYPOINT"]
    assert entrypoints, f"{image.dockerfile} has no ENTRYPOINT in its final stage"
    argv = json.loads(entrypoints[-1])  # exec form only: a shell would not forward SIGTERM
    assert argv == [image.script], f"{image.dockerfile}: ENTRYPOINT {argv}, expected [{image.script!r}]"
    assert project_scripts().get(image.script) == image.entry_point
    module, _, function = image.entry_point.partition(":")
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, f"{module} (entry point of {image.script}) is missing"
    assert re.search(rf"^def {function}\(", Path(spec.origin).read_text(), re.M), f"{module} has no {function}()"


@pytest.mark.parametrize("image", IMAGES)
def test_image_is_non_root_pinned_and_locked(image: Image) -> None:
    stages = parse_dockerfile(image.dockerfile)
    assert len(stages) >= 3, "expected a multi-stage build (build stage + runtime stage)"
    args = build_args(stages)
    for stage in stages[1:]:
        base = stage[0].value.split()[0]
        base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), base)
        # A full version tag (3.11.14-...) or a digest, never a floating tag.
        assert "@sha256:" in base or re.search(r":\d+\.\d+\.\d+", base), f"base image {base!r} is not pinned"
    users = [i.value for i in stages[-1] if i.keyword == "USER"]
    assert users, "the runtime stage sets no USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"USER {users[-1]!r}: use a numeric non-root uid (runAsNonRoot checks it)"
    installs = [
        command
        for stage in stages
        for i in stage
        if i.keyword == "RUN"
        for command in i.value.split("&&")
        if "pip install" in command
    ]
    assert installs, "no pip install"
    for command in installs:
        assert unpinned_requirements(command) == [], f"unpinned: {command.strip()}"


def unpinned_requirements(pip_install: str) -> list[str]:
    """Requirements of one `pip install` command that nothing pins: with `-c`/`-r requirements.lock`
    every name is pinned by the lock; otherwise each must be `name==version`, a wheel or a path."""
    if re.search(r"-[cr] \S*requirements\.lock", pip_install):
        return []
    words = shlex.split(pip_install.split("pip install", 1)[1])
    return [
        word
        for word in words
        if not word.startswith(("-", "/", ".", "$")) and "==" not in word and not word.endswith(".whl")
    ]


def third_party_imports(package_dir: Path) -> set[str]:
    """Top-level modules imported anywhere under `package_dir`, minus the stdlib and the package itself."""
    modules: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    return {m for m in modules if m not in sys.stdlib_module_names and m != package_dir.name}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def with_requirements(distributions: set[str]) -> set[str]:
    """`distributions` and everything they require (no extras), as installed in this venv."""
    seen: set[str] = set()
    todo = [canonical(d) for d in distributions]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for spec in importlib.metadata.requires(name) or []:
            requirement = Requirement(spec)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return seen


def test_operator_image_installs_every_distribution_the_operator_imports() -> None:
    stages = parse_dockerfile(REPO / "Dockerfile")
    listed = set(shlex.split(build_args(stages)["OPERATOR_DEPENDENCIES"]))
    installed = with_requirements(listed)
    providers = importlib.metadata.packages_distributions()
    missing = {
        module: providers.get(module)
        for module in third_party_imports(REPO / "operator" / "detection_operator")
        if not any(canonical(d) in installed for d in providers.get(module, []))
    }
    assert not missing, f"add to OPERATOR_DEPENDENCIES in the Dockerfile: {missing}"


def test_chart_default_images_are_the_ones_the_dev_stack_maps() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    app_version = yaml.safe_load((CHART / "Chart.yaml").read_text())["appVersion"]
    assert "scorefleet-operator" in values["image"]["repository"]
    scorer = values["scorer"]["image"]
    assert "scorefleet-scorer" in scorer["repository"]
    # The chart's scorer default is the operator's own default at the chart's appVersion.
    assert f"{scorer['repository']}:{scorer['tag'] or app_version}" == DEFAULT_SCORER_IMAGE
