"""The partition of a keyed record, as Kafka's default partitioner picks it.

Kafka's clients hash a record's key with murmur2 (``Utils.murmur2`` in the Java client) and take
it modulo the topic's partitions; aiokafka's ``DefaultPartitioner`` does the same in pure
Python, one byte at a time. The worker partitions every keyed event itself (60,000
``precache.image.cache`` events per ``bench scale --steps 30000``), where aiokafka's loop was
4 % of the worker. Here the 4-byte words come from one ``struct`` call and each takes three
masked multiplications: half the time (2.5 against 5.3 us for a 30-byte key). The same
partitions for every key: tests/unit/pipeline/test_key_partition.py holds it equal to
aiokafka's on random keys of every length.
"""

import struct
from collections.abc import Sequence

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF
_WORDS: dict[int, struct.Struct] = {}  # little-endian unsigned words, by count


def murmur2(data: bytes) -> int:
    """Kafka's murmur2 of ``data`` as an unsigned 32-bit number."""
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    unpack = _WORDS.get(words)
    if unpack is None:
        unpack = _WORDS[words] = struct.Struct(f"<{words}I")
    for k in unpack.unpack_from(data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    tail = length & 3
    if tail:
        end = length - tail
        if tail == 3:
            h ^= data[end + 2] << 16
        if tail >= 2:
            h ^= data[end + 1] << 8
        h = ((h ^ data[end]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


def key_partition(key: bytes, partitions: Sequence[int]) -> int:
    """One of ``partitions`` (every partition of the topic, sorted), as Kafka's default
    partitioner gives it to ``key``."""
    return partitions[(murmur2(key) & 0x7FFFFFFF) % len(partitions)]
