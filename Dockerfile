# One image for every part: `autodevops serve <server> ...`, `autodevops scarlet --config ...`,
# `autodevops jamie --config ...`.
# Build: docker build -t autodevops:0.1.0 .

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# A virtualenv at the path it keeps in the final image, so its scripts' shebangs stay valid.
RUN python -m venv /opt/autodevops
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY common ./common
COPY servers ./servers
COPY clients ./clients
COPY policies ./policies
# A regular (not editable) install, bytecode compiled now: the final image needs no sources
# and writes nothing at run time.
RUN /opt/autodevops/bin/pip install .

FROM python:3.11-slim-bookworm
# A fixed non-root UID/GID; the chart runs pods as it (runAsUser/runAsGroup 10001).
RUN groupadd --system --gid 10001 autodevops \
    && useradd --system --uid 10001 --gid autodevops --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin autodevops
# pg_dump/pg_restore for `autodevops backup|restore postgres` (Debian 12: PostgreSQL 15).
RUN apt-get update \
    && apt-get install -y --no-install-recommends "postgresql-client-15=15.*" \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /opt/autodevops /opt/autodevops
# Read-only root filesystem: no bytecode written, HOME and temporary files in /tmp (an emptyDir).
ENV PATH=/opt/autodevops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp
USER 10001:10001
EXPOSE 8080 8001 9001 3000 8000 9000
ENTRYPOINT ["autodevops"]
CMD ["--help"]
