# syntax=docker/dockerfile:1
# mcp-monitor image: every `mcpmon` command (worker, revoker, sink, proxy, tap, replay...).
#
#   docker build -t mcp-monitor:0.1.0 .
#   docker run --rm mcp-monitor:0.1.0 --help
#
# Dependencies come from deploy/requirements.lock (pinned, with hashes; regenerate with
# deploy/lock.sh), never resolved at build or start time. Pin the base by digest for
# reproducible builds: --build-arg PYTHON_IMAGE=python:3.11-slim-bookworm@sha256:...
# No HEALTHCHECK here: what "healthy" means differs per command; docker-compose.yml and
# the Helm chart (deploy/helm/mcp-monitor) give each service its own.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: a virtualenv with the locked dependencies and the mcp-monitor wheel
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
# a C compiler for mypyc, in the build stage only (the runtime stage gets the compiled
# modules, not the compiler). Not version-pinned: Debian replaces a point release's
# package versions, so pins would break the build; what it compiles is checked at import
# (a build whose stamp does not match its sources is never used).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# the lock files first: the dependency layers stay cached while only the source changes
COPY deploy/requirements.lock deploy/build-requirements.lock ./deploy/
RUN python -m venv /opt/mcpmon \
 && /opt/mcpmon/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
      -r deploy/requirements.lock \
 && python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --require-hashes --only-binary=:all: \
      -r deploy/build-requirements.lock
COPY pyproject.toml README.md ./
COPY monitor ./monitor
# the project itself, without resolving anything: its dependencies are all in the venv
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation -w /tmp/wheels . \
 && /opt/mcpmon/bin/pip install --no-cache-dir --no-deps /tmp/wheels/mcp_monitor-*.whl \
 && /opt/mcpmon/bin/pip check
# the behaviour layer's hot modules compiled into the installed package (mypyc from the
# build virtualenv, types from the runtime one): the same results, about twice as fast
RUN PATH=/opt/build/bin:$PATH /opt/mcpmon/bin/python -m monitor.native_build

# ---- runtime: the virtualenv alone, run by an unprivileged user
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="mcp-monitor" \
      org.opencontainers.image.description="Streaming behaviour monitor for AI agents that call tools over MCP" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 mcpmon \
 && useradd --system --uid 10001 --gid mcpmon --home-dir /var/lib/mcpmon \
      --no-create-home --shell /usr/sbin/nologin mcpmon \
 && install -d -o mcpmon -g mcpmon -m 0700 /var/lib/mcpmon
COPY --from=build /opt/mcpmon /opt/mcpmon
ENV PATH=/opt/mcpmon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    MCPMON_DATA_DIR=/var/lib/mcpmon
# numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
WORKDIR /var/lib/mcpmon
ENTRYPOINT ["mcpmon"]
CMD ["--help"]
