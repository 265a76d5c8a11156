"""What the stand-in knows: its aggregates (and how their hosts behave) and its images.

The default is Nova's announcement of the feature: aggregate ``my-application`` (id 2) of 95
hosts guaranine1-95, hosts 2-9 failing, image ``c3b84ecf-43e9-4c6c-adfd-ab6db0e2bca2``. A JSON
file with the same shape replaces it (``precache nova-api --config FILE``).
"""

import json
import uuid
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from precache.errors import ConfigError
from precache.simulate.plan import DEMO_IMAGE, SimulationPlan, parse_host_ranges


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StandInAggregate(_Model):
    id: int = 2
    name: str = "my-application"
    uuid: str = Field(default_factory=lambda: str(uuid.uuid4()))
    hosts: int = Field(95, ge=0)
    host_prefix: str = "guaranine"
    failing: str = "2-9"  # host ranges, as for `precache simulate`
    down: str = ""
    unsupported: str = ""
    no_report: str = ""
    failing_requests: int = Field(
        0, ge=0, description="the failing hosts fail only the first N requests (0: every one)"
    )
    delay_s: float = Field(0.5, ge=0, description="seconds each host takes")
    concurrency: int = Field(8, ge=1)

    def host_names(self) -> list[str]:
        return [f"{self.host_prefix}{n}" for n in range(1, self.hosts + 1)]

    def plan(
        self,
        images: tuple[str, ...],
        request_id: str,
        global_request_id: str | None,
        nth: int = 1,
    ) -> SimulationPlan:
        """The conductor's run for the ``nth`` accepted request of this aggregate."""
        fails = self.failing_requests == 0 or nth <= self.failing_requests
        return SimulationPlan(
            hosts=self.hosts,
            host_prefix=self.host_prefix,
            images=images,
            aggregate_name=self.name,
            aggregate_uuid=self.uuid,
            aggregate_id=self.id,
            failing=parse_host_ranges(self.failing) if fails else frozenset(),
            down=parse_host_ranges(self.down),
            unsupported=parse_host_ranges(self.unsupported),
            no_report=parse_host_ranges(self.no_report),
            delay_s=self.delay_s,
            concurrency=self.concurrency,
            request_id=request_id,
            global_request_id=global_request_id,
        )


class StandInImage(_Model):
    id: str
    name: str


class StandInConfig(_Model):
    aggregates: list[StandInAggregate] = Field(default_factory=lambda: [StandInAggregate()])
    images: list[StandInImage] = Field(
        default_factory=lambda: [StandInImage(id=DEMO_IMAGE, name="my-application-image")]
    )
    readers: list[str] = Field(
        default_factory=list,
        description="noauth user names that may list and show aggregates but not cache images "
        "(as a policy granting only os_compute_api:os-aggregates:index/show would)",
    )

    def aggregate(self, aggregate_id: int) -> StandInAggregate | None:
        return next((a for a in self.aggregates if a.id == aggregate_id), None)

    def image(self, image_id: str) -> StandInImage | None:
        return next((i for i in self.images if i.id == image_id), None)


def load_config(path: Path | None) -> StandInConfig:
    """The announcement's example without a file; a file that is not valid is one line."""
    if path is None:
        return StandInConfig()
    try:
        config = StandInConfig.model_validate(json.loads(path.read_text()))
        for aggregate in config.aggregates:  # host ranges are checked by the plan
            if aggregate.hosts:
                aggregate.plan((DEMO_IMAGE,), "req-check", None)
        return config
    except OSError as exc:
        raise ConfigError(f"--config {path}: {exc.strerror or exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--config {path}: not JSON: {exc}") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise ConfigError(f"--config {path}: {where}: {err['msg']}") from exc
