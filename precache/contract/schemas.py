"""Writes ``schemas/<type>.json`` from the models in :mod:`precache.contract.events`.

    python -m precache.contract.schemas            # rewrite schemas/ in the repository
    python -m precache.contract.schemas --check    # exit 1 when a committed file differs

The committed files are what consumers outside Python validate against; a unit test fails when
they drift from what this module writes.
"""

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from precache.contract.events import MODELS, EventType

BASE_ID = "https://precache.example/schemas/"
TITLES = {
    EventType.STATUS: "The state of one image pre-cache operation after a change",
    EventType.COMPLETED: "One image pre-cache operation completed",
    EventType.STALLED: "One image pre-cache operation stalled",
    EventType.HOST_FAILED: "One host of one operation failed",
    EventType.IMAGE_CACHE: "One image on one host of the image cache inventory",
    EventType.ROLLOUT_REQUEST: "One pre-cache request of precache rollout or keep-warm",
    EventType.ROLLOUT_TARGET: "A rollout target became ready or failed its gate",
}
DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def schema(kind: EventType) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of one event type, as written on the wire."""
    body = MODELS[kind].model_json_schema(mode="serialization")
    body.pop("title", None)
    body.pop("description", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{BASE_ID}{kind.value}.json",
        "title": TITLES[kind],
        "description": (MODELS[kind].__doc__ or "").strip(),
        **body,
    }


def render(kind: EventType) -> str:
    return json.dumps(schema(kind), indent=2, sort_keys=False) + "\n"


def files() -> dict[str, str]:
    """File name -> content, for every event type."""
    return {f"{kind.value}.json": render(kind) for kind in EventType}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m precache.contract.schemas")
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--check", action="store_true", help="only compare, exit 1 on drift")
    args = parser.parse_args(argv)
    drift = []
    for name, text in files().items():
        path = args.directory / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        drift.append(name)
        if not args.check:
            path.write_text(text)
    extra = sorted(p.name for p in args.directory.glob("*.json") if p.name not in files())
    for name in drift:
        print(f"{'differs' if args.check else 'wrote'}: {args.directory / name}")
    for name in extra:
        print(f"not an event type (remove it): {args.directory / name}", file=sys.stderr)
    return 1 if (args.check and drift) or extra else 0


if __name__ == "__main__":
    sys.exit(main())
