"""``precache worker``: the faust pipeline (:mod:`precache.pipeline.service`).

Every WorkerSettings field is an option, generated from the settings as the bridge's are
(:mod:`precache.cli.options`); unset options fall back to ``PRECACHE_*`` env vars, then to the
defaults.

Exit statuses: 0 stopped by SIGTERM/SIGINT; 3 a start-up check failed (setting, data dir in
use, web port in use, Kafka unreachable or refusing us, a topic set up wrongly or refused),
one line on stderr; 1 the worker failed after it started (one line, details in its log).
"""

from typing import Any

from precache import logs
from precache.cli.options import KAFKA_SECRETS, settings_command
from precache.config import build_settings
from precache.pipeline.service import serve
from precache.pipeline.settings import WorkerSettings


def worker(**options: Any) -> None:
    """Follow every image pre-cache operation and emit status/completed/failed/stalled events."""
    settings = build_settings(WorkerSettings, every_setting_an_option=True, **options)
    logs.configure(settings.log_level)
    serve(settings)


command = settings_command(WorkerSettings, worker, exclude=KAFKA_SECRETS)
