# syntax=docker/dockerfile:1.7
# judge0-operator image: build the wheels in one stage, install only wheels in the next.
#   docker build -t judge0-operator:0.1.0 .
# The runtime stage has no compiler, no pip, and runs as the numeric non-root user 65532 with a
# read-only root filesystem (the chart mounts an emptyDir at /tmp). Nothing runs through a shell.

ARG PYTHON_IMAGE=python:3.11.14-slim

# ---- builder: the project's wheel plus a wheel for every dependency -----------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY operator/ operator/
RUN python -m pip wheel --wheel-dir /wheels .

# ---- runtime -------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="judge0-operator" \
      org.opencontainers.image.description="Kubernetes operator that keeps fleets of EC2 instances running Judge0 healthy and correctly sized" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/judge0-operator/judge0-operator" \
      org.opencontainers.image.vendor="judge0-operator" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11.14-slim"
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp
# Install from the builder's wheels only (no index, no build), check the entry point works, then
# remove the installers so the image carries nothing that can fetch or build code.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m pip install --no-index --find-links /wheels judge0-operator \
    && judge0-operator version \
    && python -m pip uninstall --yes setuptools wheel pip
USER 65532:65532
WORKDIR /tmp
# Prometheus metrics (--metrics-port) and Kopf's liveness endpoint (--liveness).
EXPOSE 9090 8080
ENTRYPOINT ["judge0-operator", "run"]
