"""The inventory's table layout (pipeline.inventory_store) on a plain dict: membership chunks
and versions, per-partition copies, indexes built only once the table is recovered."""

from typing import Any

from precache.pipeline.inventory import Membership, Touch, merge
from precache.pipeline.inventory_store import InventoryStore, chunk_list
from precache.pipeline.operation import json_len

AT = "2026-12-01T00:00:00.000000Z"
LATER = "2026-12-01T01:00:00.000000Z"


def store(table: dict[str, Any] | None = None, chunk_bytes: int = 64) -> InventoryStore:
    s = InventoryStore({} if table is None else table, chunk_bytes)
    s.recovered()
    return s


def test_a_large_membership_is_chunked_and_the_old_chunks_go():
    table: dict[str, Any] = {}
    s = store(table)
    hosts = tuple(f"compute-{n:04d}" for n in range(40))
    first = Membership("r1", "agg", "a", hosts, AT)
    s.put_membership(first, 0)
    chunks = [k for k in table if k.count("|") == 4]
    assert len(chunks) > 5  # 40 names in records of at most 64 bytes
    assert all(len(str(table[k])) <= 64 for k in chunks)
    assert s.partition_membership("r1/agg", 0) == first
    assert s.partition_membership("r1/agg", 1) is None  # each partition has its own copy
    second = Membership("r1", "agg", "a", hosts[:3], LATER, source="aggregate.remove_host.end")
    s.put_membership(second, 0)
    assert s.partition_membership("r1/agg", 0) == second
    assert len([k for k in table if k.count("|") == 4]) == 1  # the first version's chunks gone
    rebuilt = store(table)
    assert list(rebuilt.memberships()) == [second]


class CountingTable(dict[str, Any]):
    """A dict that counts writes and deletions: each is a changelog record in faust's table."""

    writes = 0

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes += 1
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.writes += 1
        super().__delitem__(key)


def test_a_membership_whose_hosts_did_not_change_is_one_head_write():
    """Every ``aggregate.cache_images.start`` of an unchanged aggregate is a newer membership
    with the same hosts: its head names the chunks already there (one changelog record, not
    chunks, head and deletions), and it reads back, also after a rebuild, as the new one."""
    table = CountingTable()
    s = store(table)
    hosts = tuple(f"compute-{n:04d}" for n in range(40))
    s.put_membership(Membership("r1", "agg", "a", hosts, AT), 0)
    chunks = {k: v for k, v in table.items() if k.count("|") == 4}
    table.writes = 0
    again = Membership("r1", "agg", "a", hosts, LATER)
    s.put_membership(again, 0)
    assert table.writes == 1
    assert {k: v for k, v in table.items() if k.count("|") == 4} == chunks
    assert s.partition_membership("r1/agg", 0) == again
    assert list(store(table).memberships()) == [again]
    # a different name, order of hosts or deletion is new content: written in full
    for changed in (
        Membership("r1", "agg", "b", hosts, "2026-12-01T02:00:00.000000Z"),
        Membership("r1", "agg", "b", hosts[::-1], "2026-12-01T03:00:00.000000Z"),
        Membership("r1", "agg", "b", (), "2026-12-01T04:00:00.000000Z", deleted=True),
    ):
        table.writes = 0
        s.put_membership(changed, 0)
        assert table.writes > 1
        assert s.partition_membership("r1/agg", 0) == changed
        assert list(store(table).memberships()) == [changed]


def test_chunk_list_splits_as_its_budget_says_whether_or_not_one_chunk_fits():
    """The one-dump shortcut gives the loop's answer: every chunk within budget as the loop
    counts it (2 + name + 2 per host), nothing lost or reordered, a split only when needed."""
    names = [f"h{n}" for n in range(30)] + ["ünïcode-host", "x" * 70]
    for budget in range(1, 400, 7):
        for n in (0, 1, 2, 5, 31, 32):
            hosts = names[:n]
            chunks = chunk_list(hosts, budget)
            assert [h for c in chunks for h in c] == hosts
            sizes = [2 + sum(json_len(h) + 1 for h in c) for c in chunks]
            assert all(size <= budget for c, size in zip(chunks, sizes, strict=True) if len(c) > 1)
            whole = 2 + sum(json_len(h) + 1 for h in hosts)
            assert (len(chunks) == 1) == (whole <= budget or n <= 1)


def test_entries_are_indexed_by_image_and_host_and_survive_a_rebuild():
    table: dict[str, Any] = {}
    s = store(table)
    for host, image, partition in (("h1", "i1", 2), ("h2", "i1", 2), ("h1", "i2", 3)):
        entry = merge(None, Touch("r1", host, image, "cached", AT))
        assert entry is not None
        s.put_entry(entry, partition)
    before = s.versions(("r1", "i1"))
    rebuilt = store(table)
    assert rebuilt.image_keys({2}) == [("r1", "i1")]
    assert rebuilt.image_keys({2, 3}) == [("r1", "i1"), ("r1", "i2")]
    assert sorted(rebuilt.entries(("r1", "i1"))) == ["h1", "h2"]
    assert rebuilt.host_images("r1", "h1") == {"i1", "i2"}
    assert rebuilt.regions_of_host("h1") == ["r1"]
    assert table["e|r1/h1/i1"]["p"] == 2
    entry = merge(rebuilt.get_entry("r1", "h1", "i1"), Touch("r1", "h1", "i1", "cached", LATER))
    assert entry is not None
    rebuilt.put_entry(entry, 2)
    assert rebuilt.versions(("r1", "i1")) != before


def test_nothing_is_read_before_the_table_is_recovered():
    table: dict[str, Any] = {}
    s = store(table)
    entry = merge(None, Touch("r1", "h1", "i1", "cached", AT))
    assert entry is not None
    s.put_entry(entry, 0)
    s.forget_index()  # a rebalance: faust recovers the table again
    assert not s.ready
    assert s.image_keys({0}) == []
    s.recovered()
    assert s.image_keys({0}) == [("r1", "i1")]
