"""The one natural order (precache.natural) the pipeline and the watcher share."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from precache.natural import natural_key, natural_sorted


def test_host2_sorts_before_host10() -> None:
    hosts = ["guaranine10", "guaranine2", "guaranine1", "guaranine100", "guaranine9"]
    assert natural_sorted(hosts) == [
        "guaranine1",
        "guaranine2",
        "guaranine9",
        "guaranine10",
        "guaranine100",
    ]


def test_a_5000_digit_host_sorts_by_value_without_int() -> None:
    """int() refuses 4,301+ digits: the issue's crash loop."""
    huge = "node" + "9" * 5000
    huger = "node1" + "0" * 5000
    assert natural_sorted([huger, "node2", huge, "node10"]) == ["node2", "node10", huge, huger]


def test_case_is_ignored_first_then_breaks_ties() -> None:
    assert natural_sorted(["b1", "A10", "a2", "c", "a2x"]) == ["a2", "a2x", "A10", "b1", "c"]
    assert natural_sorted(["host1", "HOST1", "Host1", "host0"]) == [
        "host0",
        "HOST1",
        "Host1",
        "host1",
    ]


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("a01", "a1"),  # same value: code points decide
        ("a1", "a001x"),  # value first: 1 == 001, then the shorter
        ("1a", "a"),  # a digit run before a text run
        ("", "a"),
        ("host", "host0"),
        ("rack9-node12", "rack10-node1"),
        ("Straße1", "STRASSE2"),  # casefold: ß == ss
    ],
)
def test_pairs(first: str, second: str) -> None:
    assert natural_key(first) < natural_key(second)
    assert natural_sorted([second, first]) == [first, second]


@given(st.lists(st.integers(min_value=0, max_value=10**60), min_size=1, max_size=20), st.randoms())
def test_digit_runs_order_like_their_integers(numbers: list[int], rnd: random.Random) -> None:
    padded = {f"h{'0' * rnd.randint(0, 3)}{n}": n for n in numbers}
    ordered = natural_sorted(list(padded))
    values = [padded[name] for name in ordered]
    assert values == sorted(values)


names = st.text(alphabet=st.sampled_from("aAbB0123 -ß\u0663"), max_size=8)


@given(st.lists(names, max_size=12), st.randoms())
def test_the_order_is_total_and_deterministic(items: list[str], rnd: random.Random) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert natural_sorted(shuffled) == natural_sorted(items)
    keys = {natural_key(name) for name in items}
    assert len(keys) == len(set(items))  # only equal names tie


def test_pipeline_and_watcher_share_it() -> None:
    from precache.pipeline.operation import natural_key as pipeline_key
    from precache.watch.naming import natural_key as watch_key
    from precache.watch.naming import natural_sorted as watch_sorted

    assert pipeline_key is natural_key
    assert watch_key is natural_key
    assert watch_sorted is natural_sorted
