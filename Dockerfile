# One image for every Emporium service: each service is a command
# (`python -m emporium.services.<name>`); the default command is the gateway.
#
# The base is pinned by tag here; a release pipeline should pin it by digest
# (python:3.11.14-slim@sha256:...) so rebuilds are reproducible.
ARG PYTHON_IMAGE=python:3.11.14-slim

# --- build: a virtualenv holding the runtime lock and the emporium wheel -----
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/venv/bin:$PATH

RUN python -m venv /opt/venv

WORKDIR /src
# requirements.runtime.lock is requirements.lock without the dev extra (same
# pins: it is compiled with `-c requirements.lock`), so linters, kubectl and
# hadolint never reach the image. Installed before the source to keep this
# layer cached across code changes.
COPY requirements.runtime.lock ./
RUN pip install --no-cache-dir -r requirements.runtime.lock

COPY pyproject.toml README.md ./
COPY src ./src
# --no-deps: every dependency came from the lock above. pip compiles .pyc
# files here, so the read-only runtime never needs to write bytecode.
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf /src

# --- runtime: the virtualenv and an unprivileged user, nothing else -----------
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="emporium" \
      org.opencontainers.image.description="Emporium services; each service is a command" \
      org.opencontainers.image.licenses="MIT"

# Container defaults; Kubernetes and compose set them again explicitly.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    EMPORIUM_HOST=0.0.0.0 \
    EMPORIUM_PORT=8000 \
    EMPORIUM_PROFILE=prod \
    EMPORIUM_VAR_DIR=/var/lib/emporium

# A fixed numeric uid/gid so `runAsNonRoot` can be verified by the kubelet.
RUN groupadd --system --gid 10001 emporium \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin emporium \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/emporium

COPY --from=build /opt/venv /opt/venv

USER 10001:10001
WORKDIR /var/lib/emporium
EXPOSE 8000
STOPSIGNAL SIGTERM

# Kubernetes ignores this (its probes are in deploy/); it serves `docker run`
# and compose. Liveness only: a seed or a not-yet-ready service is not "sick".
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('EMPORIUM_PORT', '8000'), timeout=2)"]

CMD ["python", "-m", "emporium.services.gateway"]
