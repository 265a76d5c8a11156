"""What every benchmark prints about the machine it ran on, so figures can be compared."""

import os
import platform
from pathlib import Path


def describe() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


class BusyCores:
    """Cores the whole machine kept busy between ``start()`` and ``read()`` (from /proc/stat).

    On a machine the brokers share with the client, this tells a client-bound stage (busy well
    below the core count) from a machine-bound one (all cores busy).
    """

    def __init__(self) -> None:
        self._start = self._sample()

    def start(self) -> None:
        self._start = self._sample()

    def read(self) -> float:
        busy0, total0 = self._start
        busy1, total1 = self._sample()
        if total1 <= total0:
            return 0.0
        return (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)

    @staticmethod
    def _sample() -> tuple[int, int]:
        try:
            fields = [int(f) for f in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        except (OSError, ValueError):
            return 0, 0
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
        return sum(fields) - idle, sum(fields)
