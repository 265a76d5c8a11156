"""The image cache inventory's rules: pure functions, no faust or Kafka import.

Which image is cached on which host, until when (docs/inventory.md). Two kinds of state:

- an *entry* per (region, host, image): the newest ``cached`` touch and the newest ``failed``
  report seen, each a :data:`Mark` (time, operation, request id, source, reason). Merging a
  touch keeps the newer mark of its kind, so entries form a semilattice: the result does not
  depend on the order or the number of times touches arrive (exact under redelivery and
  reordering, newest touch wins). The state is the kind of the newest mark;
- a *membership* per (region, aggregate): the aggregate's whole host list at a time, from an
  operation's start/end or Nova's ``aggregate.*.end`` (AggregatePayload ``hosts`` is the whole
  membership after the change); the newest wins.

The forecast (``expires_at``, ``gone_by``) is computed when read, from the settings of the
entry's region (:class:`Expiry`): changing a setting needs no rewrite of the state.
"""

import functools
import hashlib
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson

Mark = dict[str, Any]  # {"at", "op", "req", "src", "reason"}: one touch, as stored
Entry = dict[str, Any]  # {"region", "host", "image", "cached": Mark|None, "failed": Mark|None}
State = Literal["cached", "failed"]

REPORTED_FAILED = "reported_failed"  # Nova's progress lists the image in images_failed
# Nova's progress does not say why: a download error, an unsupported virt driver and a host
# whose compute service is down all land in images_failed alike (docs/inventory.md)

NEVER = -1.0  # manager_interval = -1: the cache manager never runs, nothing expires
NOVA_MIN_INTERVAL_S = 60.0  # manager_interval = 0: Nova runs the pass every 60 s


@dataclass(frozen=True, slots=True)
class Touch:
    """One fact about one image on one host: it was cached (or found) or it failed, at ``at``."""

    region: str
    host: str
    image: str
    state: State
    at: str  # canonical UTC text (``...ffffffZ``): string order is time order
    operation_id: str | None = None
    request_id: str | None = None
    source: str = "aggregate.cache_images.progress"
    reason: str | None = None

    @property
    def key(self) -> str:
        return entry_key(self.region, self.host, self.image)

    def mark(self) -> Mark:
        return {
            "at": self.at,
            "op": self.operation_id,
            "req": self.request_id,
            "src": self.source,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Membership:
    """An aggregate's hosts as of ``at`` (``deleted``: the aggregate is gone)."""

    region: str
    uuid: str
    name: str | None
    hosts: tuple[str, ...]
    at: str
    deleted: bool = False
    source: str = "aggregate.cache_images.start"
    # made once: a membership is compared and versioned per partition, several times each
    # (a SHA-1 of its sorted hosts, 2.7 us for 30 hosts; ~40,000 calls per bench scale run)
    digest: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "digest", _digest(self.hosts, self.name))

    @property
    def key(self) -> str:
        return f"{self.region}/{self.uuid}"

    def order(self) -> tuple[str, bool, str]:
        """A total order, so two records with the same time still merge the same way."""
        return (self.at, self.deleted, self.digest)


def entry_key(region: str, host: str, image: str) -> str:
    """``region/host/image``: the Kafka key of ``precache.image.cache``."""
    return f"{region}/{host}/{image}"


def _digest(hosts: Iterable[str], name: str | None) -> str:
    return hashlib.sha1(orjson.dumps([name, sorted(hosts)]), usedforsecurity=False).hexdigest()


def _mark_order(mark: Mark) -> tuple[str, str, str, str]:
    return (mark["at"], mark.get("op") or "", mark.get("req") or "", mark.get("src") or "")


def newer(a: Mark | None, b: Mark | None) -> Mark | None:
    """The newer of two marks of one kind (a total order: ties break on the other fields)."""
    if a is None:
        return b
    if b is None:
        return a
    return b if _mark_order(b) > _mark_order(a) else a


def merge(entry: Entry | None, touch: Touch) -> Entry | None:
    """The entry after ``touch``, or None when it changes nothing (a duplicate, an older one)."""
    kind = touch.state
    mark = touch.mark()
    current = entry.get(kind) if entry else None
    if newer(current, mark) is current:
        return None
    base: Entry = entry or {
        "region": touch.region,
        "host": touch.host,
        "image": touch.image,
        "cached": None,
        "failed": None,
    }
    return {**base, kind: mark}


def merge_entries(a: Entry | None, b: Entry | None) -> Entry | None:
    """Two entries of one key merged (the result of applying both their touches)."""
    if a is None or b is None:
        return a or b
    return {
        **a,
        "cached": newer(a["cached"], b["cached"]),
        "failed": newer(a["failed"], b["failed"]),
    }


def state_of(entry: Entry) -> State:
    return _state(entry.get("cached"), entry.get("failed"))


def _state(cached: Mark | None, failed: Mark | None) -> State:
    if failed is None:
        return "cached"
    if cached is None:
        return "failed"
    return "cached" if _mark_order(cached) >= _mark_order(failed) else "failed"


def last_mark(entry: Entry) -> Mark:
    state = state_of(entry)
    mark: Mark = entry[state]
    return mark


def merge_membership(current: Membership | None, new: Membership) -> Membership | None:
    """``new`` when it is newer than ``current``, else None (nothing changes)."""
    if current is not None and new.order() <= current.order():
        return None
    return new


@dataclass(frozen=True, slots=True)
class Expiry:
    """Nova's two ``[image_cache]`` values for one region (docs/inventory.md)."""

    min_age_s: float = 86_400.0  # remove_unused_original_minimum_age_seconds
    manager_interval_s: float = 2_400.0  # manager_interval; -1: never
    # both as timedeltas, made once: view() adds them to every cached entry it forecasts
    min_age: timedelta = field(init=False, repr=False, compare=False)
    interval: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "min_age", timedelta(seconds=self.min_age_s))
        object.__setattr__(self, "interval", timedelta(seconds=self.interval_s()))

    @property
    def never(self) -> bool:
        return self.manager_interval_s < 0

    def interval_s(self) -> float:
        return NOVA_MIN_INTERVAL_S if self.manager_interval_s == 0 else self.manager_interval_s


@dataclass(frozen=True, slots=True)
class Policy:
    """The expiry of every region: a default and per-region overrides."""

    default: Expiry = field(default_factory=Expiry)
    regions: Mapping[str, Expiry] = field(default_factory=dict)

    def of(self, region: str) -> Expiry:
        return self.regions.get(region, self.default)


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def write_time(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@functools.lru_cache(maxsize=4096)  # a notification's images share its time: half are repeats
def forecast(cached_at: str, expiry: Expiry) -> tuple[str, str]:
    """(``expires_at``, ``gone_by``) of a copy cached at ``cached_at`` (an expiring region).

    The same text as ``write_time(parse_time(cached_at) + ...)``, about three times cheaper for
    the ``...Z`` times the worker writes: the arithmetic on the naive UTC time and its plain
    ``isoformat`` (no time zone conversion, no ``timespec``). view() runs once per changed
    entry per inventory batch (bench/README.md, Run S4). A forecast past year 9999 (Nova
    accepts such a timestamp) is the last time a ``datetime`` holds, not an OverflowError: that
    stopped the inventory agent on every redelivery of the entry's batch."""
    if cached_at.endswith("Z"):
        at = datetime.fromisoformat(cached_at[:-1])
        if at.tzinfo is None:  # "...+02:00Z" is not a UTC time: the general path below
            expires = _plus(at, expiry.min_age)
            return _write_naive(expires), _write_naive(_plus(expires, expiry.interval))
    exact = _plus(parse_time(cached_at), expiry.min_age)
    return write_time(exact), write_time(_plus(exact, expiry.interval))


def _plus(at: datetime, delta: timedelta) -> datetime:
    try:
        return at + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=at.tzinfo)


def _write_naive(at: datetime) -> str:
    """A naive UTC time as :func:`write_time` writes it (``isoformat`` omits a zero fraction)."""
    return at.isoformat() + ("Z" if at.microsecond else ".000000Z")


def view(entry: Entry, policy: Policy) -> dict[str, Any]:
    """What a reader sees of one entry: state, last touch, the operation, the forecast.

    ``cached_at`` is the newest successful touch (a failure after it does not remove a file
    already there); ``expires_at`` = ``cached_at`` + min age, ``gone_by`` = ``expires_at`` + one
    manager interval; both null when nothing expires (``manager_interval`` -1) or never cached.
    The keys are in the order of ``ImageCacheData``'s fields: ``inventory_events.encode``
    writes this dict as the event's ``data`` (tests/unit/pipeline/test_inventory_events.py).
    """
    cached: Mark | None = entry.get("cached")
    failed: Mark | None = entry.get("failed")
    state = _state(cached, failed)
    last: Mark = entry[state]
    expires_at = gone_by = None
    expiry = policy.of(entry["region"])
    if cached is not None and not expiry.never:
        expires_at, gone_by = forecast(cached["at"], expiry)
    return {
        "region": entry["region"],
        "host": entry["host"],
        "image": entry["image"],
        "state": state,
        "reason": last.get("reason") if state == "failed" else None,
        "touched_at": last["at"],
        "cached_at": cached["at"] if cached else None,
        "expires_at": expires_at,
        "gone_by": gone_by,
        "operation_id": last.get("op"),
        "request_id": last.get("req"),
        "source": last.get("src"),
    }


@dataclass(frozen=True, slots=True)
class Shortfall:
    host: str
    why: Literal["failed", "missing", "expiring"]
    detail: str


@dataclass(frozen=True, slots=True)
class GateResult:
    ok: bool
    held: int
    total: int
    required: float
    short: list[Shortfall]


def holds(row: Mapping[str, Any], now: datetime, valid_for: timedelta) -> bool:
    """A host holds the image for ``valid_for`` from ``now``: cached, and not expected to be
    removed before then (``expires_at`` null: never removed)."""
    if row.get("state") != "cached":
        return False
    expires = row.get("expires_at")
    return expires is None or parse_time(expires) >= now + valid_for


def gate(
    members: Iterable[str],
    rows: Iterable[Mapping[str, Any]],
    required: float,
    now: datetime,
    valid_for: timedelta = timedelta(0),
) -> GateResult:
    """Do at least ``required`` (0..1) of an aggregate's ``members`` hold the image for
    ``valid_for``? ``rows`` are the image's views (any hosts; only members count)."""
    hosts = sorted(set(members))
    by_host = {r["host"]: r for r in rows}
    short: list[Shortfall] = []
    for host in hosts:
        row = by_host.get(host)
        if row is None:
            short.append(Shortfall(host, "missing", "never seen cached"))
        elif row["state"] == "failed":
            short.append(Shortfall(host, "failed", f"{row.get('reason')} at {row['touched_at']}"))
        elif not holds(row, now, valid_for):
            short.append(Shortfall(host, "expiring", f"expires at {row['expires_at']}"))
    held = len(hosts) - len(short)
    ok = bool(hosts) and held >= required * len(hosts) - 1e-9
    return GateResult(ok=ok, held=held, total=len(hosts), required=required, short=short)


def image_summary(
    rows: Iterable[Mapping[str, Any]], memberships: Iterable[Membership]
) -> dict[str, Any]:
    """One image's rows in one region: counts, earliest and latest expiry, and per aggregate
    the hosts cached, failed and missing."""
    rows = list(rows)
    cached = [r for r in rows if r["state"] == "cached"]
    expiries = [r["expires_at"] for r in cached if r["expires_at"] is not None]
    state = {r["host"]: r["state"] for r in rows}
    aggregates = []
    for m in memberships:
        if m.deleted:
            continue
        hosts = set(m.hosts)
        aggregates.append(
            {
                "uuid": m.uuid,
                "name": m.name,
                "hosts": len(hosts),
                "cached": sum(1 for h in hosts if state.get(h) == "cached"),
                "failed": sum(1 for h in hosts if state.get(h) == "failed"),
                "missing": sum(1 for h in hosts if h not in state),
            }
        )
    return {
        "cached": len(cached),
        "failed": len(rows) - len(cached),
        "earliest_expiry": min(expiries, default=None),
        "latest_expiry": max(expiries, default=None),
        "never_expire": sum(1 for r in cached if r["expires_at"] is None),
        "aggregates": aggregates,
    }


def summarize(
    entries: Iterable[Entry],
    memberships: Iterable[Membership],
    policy: Policy,
    region: str,
    hosts_of: Callable[[Membership], Collection[str]] = lambda m: frozenset(m.hosts),
) -> dict[str, Any]:
    """:func:`image_summary` of the views of ``entries`` (one region's, one image's), without
    building a view per entry: the forecast is computed for the earliest and latest copy only
    (time text sorts as time). What ``GET /images/{image}`` answers for 100k hosts."""
    state: dict[str, State] = {}
    first = last = None
    for e in entries:
        st = state_of(e)
        state[e["host"]] = st
        if st == "cached":
            at = e["cached"]["at"]
            if first is None or at < first:
                first = at
            if last is None or at > last:
                last = at
    cached = sum(1 for st in state.values() if st == "cached")
    expiry = policy.of(region)
    never = expiry.never

    def expires(at: str | None) -> str | None:
        if at is None or never:
            return None
        return forecast(at, expiry)[0]

    aggregates = []
    for m in memberships:
        if m.deleted:
            continue
        hosts = hosts_of(m)
        found = [state.get(h) for h in hosts]
        aggregates.append(
            {
                "uuid": m.uuid,
                "name": m.name,
                "hosts": len(hosts),
                "cached": found.count("cached"),
                "failed": found.count("failed"),
                "missing": found.count(None),
            }
        )
    return {
        "cached": cached,
        "failed": len(state) - cached,
        "earliest_expiry": expires(first),
        "latest_expiry": expires(last),
        "never_expire": cached if never else 0,
        "aggregates": aggregates,
    }
