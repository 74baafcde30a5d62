# syntax=docker/dockerfile:1
# calsync: the iCal channel-sync daemon.
#
#   docker build -t calsync .
#   docker run -d --name calsync -p 8080:8080 -v calsync-data:/var/lib/calsync \
#       --stop-timeout 45 calsync
#
# Settings: CALSYNC_<SECTION>__<KEY> environment variables, and optionally a TOML file
# mounted read-only and named by CALSYNC_CONFIG:
#   -v ./calsync.toml:/etc/calsync/calsync.toml:ro -e CALSYNC_CONFIG=/etc/calsync/calsync.toml
# One-shot commands run the same way: `docker run --rm ... calsync sync --all`.

ARG PYTHON_VERSION=3.12

# --- builder: the calsync wheel and the wheels of all its dependencies ---------------
FROM python:${PYTHON_VERSION}-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime ------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim

LABEL org.opencontainers.image.title="calsync" \
      org.opencontainers.image.description="iCal channel-sync daemon" \
      org.opencontainers.image.licenses="MIT"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Installs only from the builder's wheels: no compiler, no wheel files left in a layer.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels /wheels/calsync-*.whl

# An unprivileged user owning the state directory. The directory is created and
# chowned before VOLUME, so a new named volume starts out owned by calsync.
RUN groupadd --system --gid 10001 calsync \
    && useradd --system --uid 10001 --gid 10001 --no-create-home \
        --home-dir /var/lib/calsync --shell /usr/sbin/nologin calsync \
    && mkdir -p /var/lib/calsync /etc/calsync \
    && chown 10001:10001 /var/lib/calsync \
    && chmod 0700 /var/lib/calsync

# Listen on all interfaces inside the container; keep the SQLite file on the volume.
# PostgreSQL instead: -e CALSYNC_DATABASE__URL=postgresql://calsync:…@db/calsync
ENV CALSYNC_SERVER__HOST=0.0.0.0 \
    CALSYNC_DATABASE__URL=sqlite:////var/lib/calsync/calsync.db

WORKDIR /var/lib/calsync
VOLUME ["/var/lib/calsync"]
USER 10001:10001
EXPOSE 8080

# The image has no curl or wget: Python asks /healthz itself (a non-2xx answer or no
# answer raises, exit 1). It follows CALSYNC_SERVER__PORT; a port changed only in the
# config file needs the same change here.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('CALSYNC_SERVER__PORT', '8080') + '/healthz', timeout=3)"]

# calsync stops within sync.shutdown_grace_seconds (30 s) of SIGTERM. `docker stop`
# waits only 10 s before SIGKILL: run with --stop-timeout 45 (compose: stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["calsync"]
CMD ["run"]
