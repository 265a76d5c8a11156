# One image for every precache component; the compose file picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY bridge ./bridge
COPY pipeline ./pipeline
COPY precache ./precache
COPY schemas ./schemas
RUN pip install --no-cache-dir '.[rocksdb]'
USER nobody
ENTRYPOINT ["precache"]
