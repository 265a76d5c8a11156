"""Raw pipeline records (the synthetic operation's) parsed the way the worker parses them."""

from bench.synthetic import Record
from precache.pipeline.notifications import Notification, header_map, parse


def notification(record: Record) -> Notification:
    _key, value, headers = record
    n = parse(value, header_map(headers))
    assert n is not None
    return n
