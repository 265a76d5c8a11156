"""What one simulated operation does: which hosts, which images, which host fails how."""

import enum
import uuid
from dataclasses import dataclass, field

from precache.errors import ConfigError

# The image of Nova's announcement of the feature, which the demo replays.
DEMO_IMAGE = "c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2"


class HostOutcome(enum.Enum):
    """What the conductor learns from one host, mirroring Nova's per-image statuses."""

    CACHED = "cached"
    FAILED = "error"  # the download failed on the host
    DOWN = "down"  # service down: conductor skips it, every image reported failed
    UNSUPPORTED = "unsupported"  # the virt driver cannot cache: reported failed
    NO_REPORT = "no_report"  # compute RPC raised (e.g. a timeout): no progress at all


@dataclass(frozen=True)
class SimulationPlan:
    hosts: int = 95
    host_prefix: str = "guaranine"
    images: tuple[str, ...] = (DEMO_IMAGE,)
    aggregate_name: str = "my-application"
    aggregate_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    aggregate_id: int = 2
    failing: frozenset[int] = frozenset()
    down: frozenset[int] = frozenset()
    unsupported: frozenset[int] = frozenset()
    no_report: frozenset[int] = frozenset()
    delay_s: float = 0.0
    concurrency: int = 8
    request_id: str = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    global_request_id: str | None = None  # the id a client sent to Nova's API, if any
    stop_after: int | None = None  # send only this many progress notifications and no end
    send_end: bool = True

    def __post_init__(self) -> None:
        if self.hosts < 1:
            raise ConfigError("hosts must be at least 1")
        if self.concurrency < 1:
            raise ConfigError("concurrency must be at least 1")
        for name in ("failing", "down", "unsupported", "no_report"):
            outside = [n for n in getattr(self, name) if not 1 <= n <= self.hosts]
            if outside:
                raise ConfigError(f"{name}: host numbers {outside} are not in 1-{self.hosts}")

    def host_names(self) -> list[str]:
        return [f"{self.host_prefix}{n}" for n in range(1, self.hosts + 1)]

    def outcome(self, number: int) -> HostOutcome:
        """Outcome of host ``number`` (1-based); the first matching set wins."""
        for numbers, outcome in (
            (self.no_report, HostOutcome.NO_REPORT),
            (self.down, HostOutcome.DOWN),
            (self.unsupported, HostOutcome.UNSUPPORTED),
            (self.failing, HostOutcome.FAILED),
        ):
            if number in numbers:
                return outcome
        return HostOutcome.CACHED


def parse_host_ranges(text: str) -> frozenset[int]:
    """``"2-9,12"`` -> {2..9, 12}; empty text is no hosts."""
    numbers: set[int] = set()
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, _, high = part.partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise ConfigError(f"bad host range {part!r}: use numbers like 2-9,12") from None
        if first > last:
            raise ConfigError(f"bad host range {part!r}: {first} is after {last}")
        numbers.update(range(first, last + 1))
    return frozenset(numbers)
