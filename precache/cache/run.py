"""``precache cache`` from arguments to exit status.

1. openstacksdk's connection; the aggregate (id, uuid or name) and the images (ids as given,
   names through the image service); an aggregate without hosts stops here.
2. Kafka and the pipeline (:mod:`.preflight`).
3. Nova's ``POST /os-aggregates/{id}/images`` at 2.81 with a new global request id.
4. The watcher's follow path, filtered on that request's ids: output and exit status are
   ``precache watch``'s.

Anything that stops it before Nova accepted is a :class:`precache.errors.PrecacheError`: one
line, exit 3.
"""

import asyncio
import sys
from collections.abc import Callable
from dataclasses import dataclass

from precache.cache.errors import NotResolved
from precache.cache.nova import Accepted, NovaAggregate, connect
from precache.cache.preflight import check_pipeline
from precache.cache.settings import CacheSettings
from precache.watch.follow import Filters
from precache.watch.render import Renderer
from precache.watch.runner import WatchOptions, follow
from precache.watch.source import SourceFactory


@dataclass(frozen=True)
class CacheOptions:
    aggregate: str
    images: tuple[str, ...]
    os_cloud: str | None = None
    region: str | None = None  # precache's region; default: the cloud's region name
    timeout_s: float | None = None
    no_wait: bool = False
    then: str | None = None


def run_cache(
    settings: CacheSettings,
    options: CacheOptions,
    open_source: SourceFactory,
    renderer: Callable[[], Renderer],
) -> int:
    nova = connect(options.os_cloud, settings.connect_timeout_s)
    aggregate = nova.aggregate(options.aggregate)
    if not aggregate.hosts:
        raise NotResolved(f"aggregate '{aggregate.name}' has no hosts: nothing to cache")
    image_ids = [nova.image_id(image) for image in options.images]
    for warning in asyncio.run(check_pipeline(settings, settings.app_id)):
        _say(warning)
    accepted = nova.precache(aggregate, image_ids)
    region = options.region or nova.region_name
    _say(_accepted_line(aggregate, image_ids, accepted))
    if options.no_wait:
        _print_ids(accepted, aggregate, region)
        return 0
    ids = frozenset(i for i in (accepted.request_id, accepted.global_request_id) if i)
    filters = Filters(aggregate=aggregate.uuid or aggregate.name, region=region, request_ids=ids)
    watch = WatchOptions(filters, options.timeout_s)
    return follow(settings, watch, open_source, renderer(), options.then)


def _accepted_line(aggregate: NovaAggregate, image_ids: list[str], accepted: Accepted) -> str:
    return (
        f"Nova accepted caching {', '.join(image_ids)} on {len(aggregate.hosts)} hosts of "
        f"aggregate '{aggregate.name}': request {accepted.request_id or '?'}, "
        f"global request {accepted.global_request_id}"
    )


def _print_ids(accepted: Accepted, aggregate: NovaAggregate, region: str | None) -> None:
    """stdout, for scripts: one ``name value`` pair a line."""
    print(f"request_id {accepted.request_id or ''}")
    print(f"global_request_id {accepted.global_request_id}")
    if region and aggregate.uuid and accepted.request_id:
        print(f"operation_id {region}/{aggregate.uuid}/{accepted.request_id}")
    sys.stdout.flush()


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
