"""Real cache_images notifications as dicts: the conductor stream and Nova's documented samples.

Nova's samples (copied from nova/doc/notification_samples) leave the aggregate to a ``$ref``
and carry no envelope fields: they are completed here the way oslo sends them.
"""

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"  # committed: missing fails, never skips
CONDUCTOR = FIXTURES / "conductor-cache_images-12hosts.json"
SAMPLES = FIXTURES / "nova-samples"


def conductor_envelopes() -> list[dict[str, Any]]:
    """The 14 oslo envelopes (start, 12 progress, end) of a real 12-host operation, as
    RabbitMQ carried them: ``{"oslo.version": "2.0", "oslo.message": "<inner JSON text>"}``."""
    envelopes: list[dict[str, Any]] = json.loads(CONDUCTOR.read_text())
    return envelopes


def conductor_messages() -> list[dict[str, Any]]:
    """The 14 inner oslo messages (start, 12 progress, end) of a real 12-host operation."""
    return [json.loads(e["oslo.message"]) for e in conductor_envelopes()]


def documented_samples() -> list[dict[str, Any]]:
    """Nova's start, progress and end samples, with the envelope oslo adds."""
    common = json.loads((SAMPLES / "common_payloads" / "AggregatePayload.json").read_text())
    out: list[dict[str, Any]] = []
    for kind in ("start", "progress", "end"):
        sample = json.loads((SAMPLES / f"aggregate-cache_images-{kind}.json").read_text())
        payload = sample["payload"]
        if payload.pop("$ref", None):
            data = {**common["nova_object.data"], **payload["nova_object.data"]}
            payload = {**common, **payload, "nova_object.data": data}
        out.append(
            {
                **sample,
                "payload": payload,
                "message_id": f"00000000-0000-4000-8000-00000000000{len(out)}",
                "timestamp": "2026-11-23 19:04:24.662740",
                "_context_request_id": "req-00000000-0000-4000-8000-000000000000",
                "_context_global_request_id": None,
            }
        )
    return out


def all_messages() -> list[dict[str, Any]]:
    return conductor_messages() + documented_samples()
