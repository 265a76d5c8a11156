# One image for every precache service; the compose file picks the command. The services need no
# developer tools: build with --build-arg EXTRAS=rocksdb,tools for `precache simulate` and demo.
# Installs exactly uv.lock (scripts/install-service, the same step scripts/smoke-services runs).
FROM python:3.11-slim
ARG EXTRAS=rocksdb
WORKDIR /app
ENV XDG_CACHE_HOME=/tmp/precache-build-cache
COPY pyproject.toml uv.lock README.md ./
COPY scripts/uv scripts/install-service ./scripts/
COPY bridge ./bridge
COPY pipeline ./pipeline
COPY precache ./precache
COPY schemas ./schemas
RUN scripts/install-service /opt/precache "${EXTRAS}" && rm -rf /tmp/precache-build-cache
ENV PATH=/opt/precache/bin:$PATH
USER nobody
ENTRYPOINT ["precache"]
