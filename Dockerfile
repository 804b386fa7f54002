# syntax=docker/dockerfile:1.7
# The scorefleet operator image. Build from the repository root:
#   docker build -t ghcr.io/scorefleet/scorefleet-operator:0.1.0 .
# Runs `scorefleet-operator` (detection_operator.main:main), the same console script the dev
# stack's node agent runs for images named *scorefleet-operator*; configured by
# SCOREFLEET_OPERATOR_* variables (operator/detection_operator/settings.py, set by the Helm chart).
# Pin the base by digest in CI (e.g. python:3.11.14-slim-bookworm@sha256:...).

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm
# Third-party distributions the operator imports; versions come from requirements.lock
# (tests/unit/chart checks this list covers every import of detection_operator).
ARG OPERATOR_DEPENDENCIES="kopf kubernetes pydantic pydantic-settings prometheus-client prometheus-api-client confluent-kafka PyYAML"

FROM ${PYTHON_IMAGE} AS build
ARG OPERATOR_DEPENDENCIES
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/scorefleet
COPY requirements.lock /tmp/requirements.lock
# Binary wheels only (confluent-kafka bundles librdkafka), every version pinned by the lock file.
RUN /opt/scorefleet/bin/pip install --only-binary=:all: -c /tmp/requirements.lock ${OPERATOR_DEPENDENCIES}
# The project itself as a wheel without its dependencies (the operator needs none of the scorer's
# ML stack), built with pinned build tools outside the runtime venv; installing it creates the
# `scorefleet-operator` console script from pyproject's [project.scripts].
COPY pyproject.toml README.md /src/
COPY operator /src/operator
COPY scorer_image/scorer /src/scorer_image/scorer
COPY devstack/scorefleet_devstack /src/devstack/scorefleet_devstack
RUN python -m pip install "setuptools==80.9.0" "wheel==0.45.1" \
    && python -m pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheels /src \
    && /opt/scorefleet/bin/pip install --no-deps /tmp/wheels/scorefleet-*.whl \
    && /opt/scorefleet/bin/python -c "import detection_operator.main" \
    && /opt/scorefleet/bin/python -m compileall -q /opt/scorefleet/lib/python3.11/site-packages/detection_operator

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="scorefleet-operator" \
      org.opencontainers.image.description="Kubernetes operator for DetectionPipelines (kopf): scorer fleets scaled on Kafka lag"
RUN groupadd --system --gid 65532 nonroot \
    && useradd --system --uid 65532 --gid nonroot --no-create-home --shell /usr/sbin/nologin nonroot
COPY --from=build /opt/scorefleet /opt/scorefleet
ENV PATH=/opt/scorefleet/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
USER 65532:65532
EXPOSE 9103 8080
ENTRYPOINT ["scorefleet-operator"]
