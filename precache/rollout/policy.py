"""The policy file (TOML) as a typed model: which images on which aggregates of which clouds,
how fast to ask Nova, when a target counts as ready and when keep-warm re-requests.

A policy that does not validate is one :class:`~precache.errors.ConfigError` line naming the
key (``target[1].aggregates: ...``), exit status 3.
"""

import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from precache.errors import ConfigError
from precache.images.args import duration, share


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return _as_value_error(duration, value, "duration")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    return value


def _share(value: Any) -> Any:
    if isinstance(value, str):
        return _as_value_error(share, value)
    return value


def _as_value_error(parse: Any, *args: Any) -> Any:
    """The gate's own parsers, their message without the option they name."""
    try:
        return parse(*args)
    except ConfigError as exc:
        raise ValueError(str(exc).partition(": ")[2]) from None


Duration = Annotated[timedelta, BeforeValidator(_duration)]
Share = Annotated[float, BeforeValidator(_share), Field(ge=0, le=1)]
Name = Annotated[str, Field(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Target(_Model):
    cloud: Name = Field(description="clouds.yaml entry, as for `precache cache --os-cloud`")
    region: Name | None = Field(None, description="precache region of its notifications")
    aggregates: Annotated[list[Name], Field(min_length=1)]
    images: list[Name] | None = Field(None, description="overrides the top-level images")

    @property
    def precache_region(self) -> str:
        return self.region or self.cloud


class Pace(_Model):
    in_flight_per_region: int = Field(2, ge=1)
    in_flight: int = Field(10, ge=1)
    retry_failed: int = Field(2, ge=0)
    backoff: Duration = Field(timedelta(seconds=30), description="before the first retry")
    backoff_max: Duration = Field(timedelta(minutes=30))


class Gate(_Model):
    require: Share = 1.0
    valid_for: Duration = timedelta(0)


class Keep(_Model):
    refresh_before: Duration = timedelta(hours=2)
    interval: Duration = Field(timedelta(seconds=60), description="keep-warm's pass period")
    jitter: Share = Field(0.1, description="share of interval added at random to each pass")


class Policy(_Model):
    images: list[Name] = Field(default_factory=list)
    target: Annotated[list[Target], Field(min_length=1)]
    pace: Pace = Pace()
    gate: Gate = Gate()
    keep: Keep = Keep()

    @model_validator(mode="after")
    def _every_target_has_images(self) -> "Policy":
        for n, t in enumerate(self.target):
            if not (t.images if t.images is not None else self.images):
                raise ValueError(f"target[{n}]: no images (set images at the top or in it)")
            if len(set(t.aggregates)) != len(t.aggregates):
                raise ValueError(f"target[{n}].aggregates: an aggregate is named twice")
        seen: set[tuple[str, str]] = set()
        for t in self.target:
            for a in t.aggregates:
                key = (t.precache_region, a)
                if key in seen:
                    raise ValueError(f"aggregate {a!r} of region {key[0]!r} is in two targets")
                seen.add(key)
        return self

    def images_of(self, target: Target) -> list[str]:
        return list(target.images if target.images is not None else self.images)


def parse_policy(text: str, source: str = "policy") -> Policy:
    try:
        return Policy.model_validate(tomllib.loads(text))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not TOML: {exc}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{source}: {_first_error(exc)}") from exc


def load_policy(path: Path) -> Policy:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"policy {path}: {exc.strerror or exc}") from exc
    return parse_policy(text, f"policy {path}")


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    where = ""
    for part in err["loc"]:
        where += f"[{part}]" if isinstance(part, int) else f".{part}" if where else str(part)
    message = str(err["msg"]).removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        message = "unknown key"
    return f"{where}: {message}" if where else message
