# One image for every precache service; the compose file picks the command. The services need no
# developer tools: build with --build-arg EXTRAS=rocksdb,tools for `precache simulate` and demo.
FROM python:3.11-slim
ARG EXTRAS=rocksdb
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY pipeline ./pipeline
COPY precache ./precache
COPY schemas ./schemas
RUN pip install --no-cache-dir ".[${EXTRAS}]"
USER nobody
ENTRYPOINT ["precache"]
