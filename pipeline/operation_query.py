"""The filters of ``GET /operations``: ``?state=``, ``?region=``, ``?aggregate=`` (uuid),
``?request_id=`` (Nova's request id or global request id), each repeatable (any of its values),
and ``?completed_since=`` (a contract time: completed at or after it). Different keys must all
hold. Matched against the worker's summaries before an operation is rendered, so a reader that
asks for its few operations (``precache rollout`` each pass) costs the workers little.

Pure: the HTTP view parses the query with :func:`parse` (a :class:`BadQuery` is a 400 naming
the parameter) and forwards :meth:`Query.params` to the other workers.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import get_args

from precache.contract.events import canonical_time
from precache.pipeline.operation import State, Summary

STATES = frozenset(get_args(State))
KEYS = ("state", "region", "aggregate", "request_id", "completed_since")


class BadQuery(ValueError):
    """A parameter of ``GET /operations`` that is unknown or has a bad value."""


@dataclass(frozen=True)
class Query:
    states: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    aggregates: frozenset[str] = frozenset()
    request_ids: frozenset[str] = frozenset()
    completed_since: str | None = None  # canonical: string order is time order

    def matches(self, s: Summary) -> bool:
        if self.states and s["state"] not in self.states:
            return False
        if self.regions and s["region"] not in self.regions:
            return False
        if self.aggregates and s["aggregate"]["uuid"] not in self.aggregates:
            return False
        if self.request_ids and not (
            s["request_id"] in self.request_ids or s["global_request_id"] in self.request_ids
        ):
            return False
        if self.completed_since is not None:
            done = s["completed_at"]
            return done is not None and done >= self.completed_since
        return True

    def params(self) -> list[tuple[str, str]]:
        """The same filters as query parameters (for the other workers)."""
        out = [("state", v) for v in sorted(self.states)]
        out += [("region", v) for v in sorted(self.regions)]
        out += [("aggregate", v) for v in sorted(self.aggregates)]
        out += [("request_id", v) for v in sorted(self.request_ids)]
        if self.completed_since is not None:
            out.append(("completed_since", self.completed_since))
        return out


def parse(items: Iterable[tuple[str, str]]) -> Query:
    """``items``: the query's (key, value) pairs, repeated keys included; ``local`` is the
    view's own and passes."""
    values: dict[str, list[str]] = {k: [] for k in KEYS}
    for key, value in items:
        if key == "local":
            continue
        if key not in values:
            raise BadQuery(f"unknown parameter {key!r}: expected one of {', '.join(KEYS)}")
        if not value:
            raise BadQuery(f"{key}: empty value")
        values[key].append(value)
    bad = sorted(set(values["state"]) - STATES)
    if bad:
        raise BadQuery(f"state: {bad[0]!r} is not one of {', '.join(sorted(STATES))}")
    since = values["completed_since"]
    if len(since) > 1:
        raise BadQuery("completed_since: given more than once")
    return Query(
        frozenset(values["state"]), frozenset(values["region"]), frozenset(values["aggregate"]),
        frozenset(values["request_id"]), _time(since[0]) if since else None,
    )  # fmt: skip


def _time(text: str) -> str:
    """An ISO 8601 time with its zone, as the worker writes times (canonical, ``Z``)."""
    try:
        at = datetime.fromisoformat(text.replace(" ", "+"))  # '+' unescaped in a URL is ' '
    except ValueError:
        raise BadQuery(f"completed_since: {text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise BadQuery(f"completed_since: {text!r} has no time zone (add Z)")
    return canonical_time(at)
