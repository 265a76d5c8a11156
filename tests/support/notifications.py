"""Raw pipeline records (the synthetic operation's) parsed the way the worker parses them."""

from precache.pipeline.notifications import Notification, header_map, parse
from precache.pipeline.synthetic import Record


def notification(record: Record) -> Notification:
    _key, value, headers = record
    n = parse(value, header_map(headers))
    assert n is not None
    return n
