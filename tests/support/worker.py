"""`precache worker` as a subprocess with a test's own settings, on a free port: the helpers
the benchmarks use, one copy (bench/support.py)."""

from bench.support import PRECACHE, WorkerProcess, free_port, own_topics, settings_env

__all__ = ["PRECACHE", "WorkerProcess", "free_port", "own_topics", "settings_env"]
