"""The policy's targets through Nova and the image service, with ``precache cache``'s client:
one openstacksdk connection per cloud, aggregates by name (or uuid or id), images by name (or
id), each aggregate's current hosts, and the pre-cache request itself."""

from collections.abc import Callable
from dataclasses import dataclass

from precache.cache.errors import NotResolved
from precache.cache.nova import Accepted, Nova, NovaAggregate, connect
from precache.rollout.planner import TargetKey, Wanted
from precache.rollout.policy import Policy

Connect = Callable[[str, float], Nova]


@dataclass(frozen=True)
class Resolved:
    wanted: Wanted
    cloud: str
    aggregate: NovaAggregate
    image_names: tuple[str, ...]  # as the policy wrote them, for --then and the reports


class Fleet:
    """The clouds of one policy, connected once; what the loop asks of Nova."""

    def __init__(self, policy: Policy, timeout_s: float, connector: Connect = connect) -> None:
        self._policy = policy
        self._timeout_s = timeout_s
        self._connect = connector
        self._clouds: dict[str, Nova] = {}

    def nova(self, cloud: str) -> Nova:
        if cloud not in self._clouds:
            self._clouds[cloud] = self._connect(cloud, self._timeout_s)
        return self._clouds[cloud]

    def resolve(self) -> list[Resolved]:
        """Every (region, aggregate) of the policy; an unknown aggregate or image, or Nova
        refusing, raises (one line, exit 3)."""
        found = []
        for target in self._policy.target:
            nova = self.nova(target.cloud)
            names = tuple(self._policy.images_of(target))
            ids = tuple(dict.fromkeys(nova.image_id(name) for name in names))
            for name in target.aggregates:
                aggregate = nova.aggregate(name)
                if aggregate.uuid is None:
                    raise NotResolved(f"Nova shows no uuid for aggregate {name!r} (needs 2.41)")
                key = TargetKey(target.precache_region, name)
                found.append(
                    Resolved(Wanted(key, aggregate.uuid, ids), target.cloud, aggregate, names)
                )
        return found

    def members(self, target: Resolved) -> tuple[str, ...]:
        """The aggregate's hosts now (a host that just joined counts)."""
        return self.nova(target.cloud).aggregate(str(target.aggregate.id)).hosts

    def request(self, target: Resolved, images: tuple[str, ...]) -> Accepted:
        return self.nova(target.cloud).precache(target.aggregate, list(images))
