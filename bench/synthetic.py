"""Nova-shaped cache_images notifications for tests and the benchmark (not a simulator), and
the other traffic of a region's notification stream.

Records look exactly like the bridge's: value = inner oslo message JSON, key = aggregate uuid
(other notifications: their object's uuid), headers region/event_type/message_id/source/
received_at. Other traffic takes the shapes of Nova's own versioned samples
(``nova_other_samples/``, see its README).
"""

import json
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import orjson

Record = tuple[bytes, bytes, list[tuple[str, bytes]]]  # key, value, headers


@dataclass
class SyntheticOperation:
    """One cache_images call: hosts, which fail which images, and its notifications."""

    hosts: list[str]
    images: list[str]
    failed: dict[str, list[str]] = field(default_factory=dict)  # host -> failed images
    silent: set[str] = field(default_factory=set)  # hosts that never report (RPC timeout)
    region: str = "region-a"
    request_id: str | None = field(default_factory=lambda: f"req-{uuid.uuid4()}")
    aggregate_uuid: str = field(default_factory=lambda: str(uuid.uuid4()))
    aggregate_name: str = "my-application"
    aggregate_id: int = 2
    started: datetime = field(default_factory=lambda: datetime(2026, 11, 23, 19, 4, 24, tzinfo=UTC))

    @property
    def operation_id(self) -> str:
        """With a request id; without one the id carries the start's canonical time."""
        return f"{self.region}/{self.aggregate_uuid}/{self.request_id}"

    def start(self) -> Record:
        return self._record("start", self._aggregate_payload(), 0)

    def end(self) -> Record:
        return self._record("end", self._aggregate_payload(), len(self.hosts) + 1)

    def progress(self, host: str, index: int) -> Record:
        failed = self.failed.get(host, [])
        data = {
            "id": self.aggregate_id,
            "uuid": self.aggregate_uuid,
            "name": self.aggregate_name,
            "host": host,
            "images_cached": [i for i in self.images if i not in failed],
            "images_failed": failed,
            "index": index,
            "total": len(self.hosts),
        }
        payload = {"nova_object.name": "AggregateCachePayload", "nova_object.data": data}
        return self._record("progress", payload, index)

    def all_progress(self) -> list[Record]:
        reporting = [h for h in self.hosts if h not in self.silent]
        return [self.progress(h, i) for i, h in enumerate(reporting, 1)]

    def records(self, shuffle: random.Random | None = None) -> list[Record]:
        """start, progress (optionally shuffled), end."""
        progress = self.all_progress()
        if shuffle is not None:
            shuffle.shuffle(progress)
        return [self.start(), *progress, self.end()]

    def _aggregate_payload(self) -> dict[str, Any]:
        data = {
            "id": self.aggregate_id,
            "uuid": self.aggregate_uuid,
            "name": self.aggregate_name,
            "hosts": self.hosts,
            "metadata": {},
        }
        return {"nova_object.name": "AggregatePayload", "nova_object.data": data}

    def _record(self, kind: str, payload: dict[str, Any], n: int) -> Record:
        stamp = (self.started + timedelta(milliseconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f")
        message: dict[str, Any] = {
            "message_id": str(uuid.uuid4()),
            "publisher_id": "nova-api:conductor",
            "event_type": f"aggregate.cache_images.{kind}",
            "priority": "INFO",
            "payload": payload,
            "timestamp": stamp,
        }
        if self.request_id is not None:
            message["_context_request_id"] = self.request_id
        return oslo_record(message, self.region)


def oslo_record(message: dict[str, Any], region: str) -> Record:
    """The bridge's Kafka record for one inner oslo message."""
    data = message.get("payload", {}).get("nova_object.data", {})
    key = str(data.get("uuid", "")).encode()
    headers = [
        ("region", region.encode()),
        ("event_type", str(message.get("event_type", "")).encode()),
        ("message_id", str(message.get("message_id", "")).encode()),
        ("source", b"synthetic"),
        ("received_at", datetime.now(UTC).isoformat().encode()),
    ]
    return key, orjson.dumps(message), headers


def hostnames(n: int, prefix: str = "guaranine") -> list[str]:
    return [f"{prefix}{i}" for i in range(1, n + 1)]


OTHER_SAMPLES = Path(__file__).resolve().parent / "nova_other_samples"
# what a region's stream mostly carries: instance updates, then service heartbeats
OTHER_WEIGHTS = {"instance-update": 6, "service-update": 3, "flavor-update": 1}


@cache
def other_samples() -> dict[str, dict[str, Any]]:
    return {n: json.loads((OTHER_SAMPLES / f"{n}.json").read_text()) for n in OTHER_WEIGHTS}


def other_message(rng: random.Random) -> dict[str, Any]:
    """One inner oslo message that is not about pre-caching, as Nova sends it."""
    name = rng.choices(list(OTHER_WEIGHTS), weights=list(OTHER_WEIGHTS.values()))[0]
    sample = other_samples()[name]
    payload = dict(sample["payload"])
    data = dict(payload["nova_object.data"])
    if "uuid" in data:
        data["uuid"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    payload["nova_object.data"] = data
    return {
        **sample,
        "payload": payload,
        "message_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f"),
        "_context_request_id": f"req-{uuid.UUID(int=rng.getrandbits(128), version=4)}",
    }


def other_records(n: int, rng: random.Random, region: str = "region-a") -> list[Record]:
    """``n`` bridge records of other notifications."""
    return [oslo_record(other_message(rng), region) for _ in range(n)]


def interleave(counted: list[Record], others_per_record: int, rng: random.Random) -> list[Record]:
    """``others_per_record`` other records before each counted one."""
    out: list[Record] = []
    for record in counted:
        out += other_records(others_per_record, rng)
        out.append(record)
    return out
