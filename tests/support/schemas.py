"""The committed JSON Schemas of the derived events, as validators."""

import json
from pathlib import Path
from typing import Any

import jsonschema

ROOT = Path(__file__).resolve().parents[2]


def schema_validator(event_type: str) -> jsonschema.Draft202012Validator:
    schema = json.loads((ROOT / "schemas" / f"{event_type}.json").read_text())
    return jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def validate(event: dict[str, Any]) -> None:
    schema_validator(event["type"]).validate(event)
