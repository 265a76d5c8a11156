import pytest

from precache.watch.naming import format_duration, natural_sorted


def test_natural_order_puts_host2_before_host10() -> None:
    hosts = ["guaranine10", "guaranine2", "guaranine1", "guaranine100", "guaranine9"]
    assert natural_sorted(hosts) == [
        "guaranine1",
        "guaranine2",
        "guaranine9",
        "guaranine10",
        "guaranine100",
    ]


def test_natural_order_mixes_prefixes_and_case() -> None:
    assert natural_sorted(["b1", "A10", "a2", "c", "a2x"]) == ["a2", "a2x", "A10", "b1", "c"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (151, "2m31s"),
        (4, "4s"),
        (3723, "1h2m3s"),
        (0, "0s"),
        (60, "1m0s"),
        (3600, "1h0m0s"),
        (150.6, "2m31s"),
        (None, "?"),
    ],
)
def test_duration_like_novas_watcher(seconds: float | None, text: str) -> None:
    assert format_duration(seconds) == text
