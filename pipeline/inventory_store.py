"""The inventory's faust table, with the in-memory indexes its reads need.

Keys (one table, ``inventory``, co-partitioned with the internal input topic):

- ``e|region/host/image``: an :data:`~pipeline.inventory.Entry` plus ``p``, its partition. A
  touch is keyed ``region/image`` on the input topic, so every host of one image in one region
  lives in one partition (``GET /images/{image}`` reads one worker's index);
- ``m|p|region/uuid``: partition ``p``'s copy of a membership head (name, time, ``deleted``,
  ``chunks``, ``v`` its version), ``m|p|region/uuid|v|i``: its hosts in records of at most
  ``chunk_bytes`` (a 100k-host aggregate would not fit one changelog record). Chunks are
  written before the head that names their version, and the previous version's chunks are
  deleted after it: a crash leaves the old head with its chunks, or the new one with its
  chunks. Every partition holds every membership (the agent sends each to all partitions), so
  any worker can tell which hosts an aggregate has. The partition is in the key because
  faust's memory store is one dict for all partitions (RocksDB has one database per
  partition): without it, the first partition's copy would hide the others' and only one
  changelog partition would get the membership.

Indexes (rebuilt from the table on first use once faust has recovered the table after a start
or a rebalance: :meth:`InventoryStore.recovered`): entries by (region, image) and images by
(region, host) for the partitions this worker owns, memberships by (region, uuid), and per
(region, image) the counts ``/metrics`` reads (:mod:`pipeline.inventory_tally`). Until then
:attr:`InventoryStore.ready` is False and the HTTP view answers 503 rather than a partial
inventory.
"""

import sys
from collections.abc import Iterator
from typing import Any

from precache.pipeline.inventory import Entry, Membership, merge_membership
from precache.pipeline.inventory_tally import ImageTally
from precache.pipeline.operation import json_len

ImageKey = tuple[str, str]  # (region, image)


class InventoryStore:
    def __init__(self, table: Any, chunk_bytes: int) -> None:
        self.table = table
        self.chunk_bytes = chunk_bytes
        self._built = False
        self.ready = False  # the table is recovered: the indexes can be built from it
        self._generation = 0  # bumped by every rebuild of the indexes
        self._images: dict[ImageKey, dict[str, Entry]] = {}  # (region, image) -> host -> entry
        self._partition: dict[ImageKey, int] = {}
        self._hosts: dict[tuple[str, str], set[str]] = {}  # (region, host) -> images
        self._members: dict[str, Membership] = {}  # region/uuid -> newest membership
        self._changes: dict[ImageKey, int] = {}  # bumped by every change of an image's entries
        self._member_changes = 0  # bumped by every membership change
        self._sets: dict[str, tuple[Membership, frozenset[str]]] = {}
        self._tallies: dict[ImageKey, ImageTally] = {}  # for /metrics (inventory_tally)

    # -- entries ---------------------------------------------------------------------------

    def get_entry(self, region: str, host: str, image: str) -> Entry | None:
        self._build()
        return self._images.get((region, image), {}).get(host)

    def put_entry(self, entry: Entry, partition: int) -> None:
        self._build()
        key = f"e|{entry['region']}/{entry['host']}/{entry['image']}"
        value = {**entry, "p": partition}
        self.table[key] = value
        self._index(value, partition)  # the same dict: one copy with the memory store

    def _index(self, entry: Entry, partition: int) -> None:
        image_key = (entry["region"], entry["image"])
        hosts = self._images.setdefault(image_key, {})
        tally = self._tallies.get(image_key)
        if tally is None:
            tally = self._tallies[image_key] = ImageTally()
        tally.change(hosts.get(entry["host"]), entry)
        hosts[entry["host"]] = entry
        self._partition[image_key] = partition
        self._changes[image_key] = self._changes.get(image_key, 0) + 1
        self._hosts.setdefault((entry["region"], entry["host"]), set()).add(entry["image"])

    def image_keys(self, owned: set[int]) -> list[ImageKey]:
        self._build()
        return sorted(k for k, p in self._partition.items() if p in owned)

    def entries(self, key: ImageKey) -> dict[str, Entry]:
        self._build()
        return self._images.get(key, {})

    def host_images(self, region: str, host: str) -> set[str]:
        self._build()
        return self._hosts.get((region, host), set())

    def regions_of_host(self, host: str) -> list[str]:
        self._build()
        return sorted({r for r, h in self._hosts if h == host})

    def tallies(self, owned: set[int]) -> Iterator[tuple[ImageKey, ImageTally]]:
        """The counts of each (region, image) in the partitions ``owned``: one per image, never
        a walk over the entries (what ``/metrics`` reads)."""
        self._build()
        for key, tally in self._tallies.items():
            if self._partition.get(key) in owned:
                yield key, tally

    def versions(self, key: ImageKey) -> tuple[int, int, int]:
        """Changes when the image's entries or any membership change (or the index is rebuilt):
        a summary computed at one version holds while it does not move."""
        return (self._generation, self._changes.get(key, 0), self._member_changes)

    def partition_of(self, key: ImageKey) -> int | None:
        return self._partition.get(key)

    # -- memberships -----------------------------------------------------------------------

    def get_membership(self, key: str) -> Membership | None:
        self._build()
        return self._members.get(key)

    def put_membership(self, m: Membership, partition: int) -> None:
        """Write ``m`` (known to be newer than this partition's copy): chunks, head, cleanup."""
        self._build()
        base = f"m|{partition}|{m.key}"
        head_key = base
        old = self.table.get(head_key)
        version = m.order()[2][:12] + m.at
        chunks = chunk_list(list(m.hosts), self.chunk_bytes)
        for i, chunk in enumerate(chunks):
            self.table[f"{base}|{version}|{i}"] = chunk
        self.table[head_key] = {
            "region": m.region,
            "uuid": m.uuid,
            "name": m.name,
            "at": m.at,
            "deleted": m.deleted,
            "src": m.source,
            "chunks": len(chunks),
            "v": version,
            "p": partition,
        }
        if old is not None and old.get("v") != version:
            for i in range(old.get("chunks", 0)):
                key = f"{base}|{old['v']}|{i}"
                if key in self.table:
                    del self.table[key]
        self._remember(m)

    def partition_membership(self, key: str, partition: int) -> Membership | None:
        """Partition ``partition``'s copy."""
        head = self.table.get(f"m|{partition}|{key}")
        return None if head is None else self._load(head)

    def _load(self, head: dict[str, Any]) -> Membership:
        hosts: list[str] = []
        for i in range(head["chunks"]):
            base = f"m|{head['p']}|{head['region']}/{head['uuid']}"
            hosts += self.table.get(f"{base}|{head['v']}|{i}") or []
        return Membership(
            head["region"], head["uuid"], head["name"], tuple(hosts), head["at"],
            head["deleted"], head["src"],
        )  # fmt: skip

    def _remember(self, m: Membership) -> None:
        newest = merge_membership(self._members.get(m.key), m)
        if newest is not None:
            self._members[m.key] = newest
            self._member_changes += 1

    def member_set(self, m: Membership) -> frozenset[str]:
        """``m``'s hosts as a set, made once per membership (summaries ask for it per read)."""
        found = self._sets.get(m.key)
        if found is None or found[0] is not m:
            found = self._sets[m.key] = (m, frozenset(m.hosts))
        return found[1]

    def memberships(self, region: str | None = None) -> Iterator[Membership]:
        self._build()
        for m in self._members.values():
            if region is None or m.region == region:
                yield m

    # -- rebuilds --------------------------------------------------------------------------

    def _build(self) -> None:
        """Fill the indexes from the table (after a start or a rebalance): one scan."""
        if self._built or not self.ready:
            return
        self._built = True
        for key in list(self.table.keys()):
            if not isinstance(key, str):
                continue
            if key.startswith("e|"):
                value = self.table.get(key)
                if value is not None:  # never changed in place: merging makes a new dict
                    self._index(shared(value), value.get("p", -1))
            elif key.startswith("m|") and key.count("|") == 2:
                head = self.table.get(key)
                if head is not None:
                    self._remember(self._load(head))

    def recovered(self) -> None:
        """faust has recovered the table (its ``on_recover`` callback): build when asked."""
        self.forget_index()
        self.ready = True

    def forget_index(self) -> None:
        """Partitions moved: rebuild the indexes from the table once it is recovered."""
        self.ready = False
        self._built = False
        self.ready = False  # the table is recovered: the indexes can be built from it
        self._generation = 0  # bumped by every rebuild of the indexes
        self._images.clear()
        self._partition.clear()
        self._hosts.clear()
        self._members.clear()
        self._tallies.clear()


def shared(entry: Entry) -> Entry:
    """An entry read from RocksDB with the strings many entries share interned (as decoded
    touches are: ``pipeline.inventory_input``)."""
    for kind in ("cached", "failed"):
        mark = entry.get(kind)
        if mark:
            entry[kind] = {k: sys.intern(v) if type(v) is str else v for k, v in mark.items()}
    return entry


def chunk_list(hosts: list[str], budget: int) -> list[list[str]]:
    """``hosts`` in lists of at most ``budget`` JSON bytes."""
    chunks: list[list[str]] = [[]]
    size = 2
    for host in hosts:
        item = json_len(host) + 1
        if size + item > budget and chunks[-1]:
            chunks.append([])
            size = 2
        chunks[-1].append(host)
        size += item
    return chunks
