"""JSON shapes that have broken parsers and walkers: deep nesting, duplicate keys, huge
numbers and strings, every Unicode plane, lone surrogates, BOMs, NUL bytes, non-JSON, empty.

Each shape is a body as RabbitMQ would hold it, bare or inside oslo's envelope, and as the
value of a notification's members (the forward path) or as the whole body (the dead-letter
path). ``shapes(seed)`` draws the random parts from a seed, so a failing run repeats.
"""

import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from tests.support.oslo import TOKEN

DEPTHS = (1, 497, 498, 999, 1000, 1023, 1024, 1025, 5000, 100_000)
EVENT = "aggregate.cache_images.progress"


@dataclass(frozen=True)
class Shape:
    label: str
    body: bytes
    message_id: str | None = None  # a notification the bridge may forward (has event_type)


def _envelope(text: str) -> bytes:
    return json.dumps({"oslo.version": "2.0", "oslo.message": text}).encode()


def _notification(label: str, members: str) -> Shape:
    """A notification whose extra members are ``members`` (JSON text), in oslo's envelope."""
    message_id = str(uuid.uuid4())
    text = f'{{"message_id": "{message_id}", "event_type": "{EVENT}", {members}}}'
    return Shape(label, _envelope(text), message_id)


def _planes(rng: random.Random) -> str:
    """A character of every Unicode plane (0-16), surrogates excluded, and some controls."""
    chars = []
    for plane in range(17):
        while True:
            point = plane * 0x10000 + rng.randrange(0x10000)
            if not 0xD800 <= point <= 0xDFFF:
                chars.append(chr(point))
                break
    return "".join(chars) + "\x00\x01\x1f\x7f\u2028\u2029\ufeff\ufffe"


def shapes(seed: int) -> Iterator[Shape]:
    rng = random.Random(seed)
    for depth in DEPTHS:
        yield Shape(f"array depth {depth}", b"[" * depth + b"]" * depth)
        yield Shape(f"object depth {depth}", b'{"a":' * depth + b"1" + b"}" * depth)
        mixed = "".join(rng.choice(('{"k":', "[")) for _ in range(depth))
        closing = "".join("}" if c == "{" else "]" for c in reversed(mixed.replace('"k":', "")))
        yield Shape(f"mixed depth {depth}", (mixed + "null" + closing).encode())
        yield Shape(f"enveloped depth {depth}", _envelope("[" * depth + "]" * depth))
        deep = "[" * depth + "]" * depth
        yield _notification(f"deep payload {depth}", f'"payload": {deep}')
        yield _notification(
            f"deep context with a token {depth}",
            f'"_context": {{"auth_token": "{TOKEN}", "deep": {deep}}}, "payload": {{}}',
        )
        yield _notification(
            f"deep secret key {depth}", f'"_context_service_catalog": {deep}, "payload": {{}}'
        )
    yield _notification(
        "duplicate token, null last",
        f'"_context_auth_token": "{TOKEN}", "payload": {{}}, "_context_auth_token": null',
    )
    yield _notification(
        "duplicate nested token",
        f'"_context": {{"auth_token": "{TOKEN}", "auth_token": ""}}, "payload": {{}}',
    )
    yield _notification("duplicate event_type", '"event_type": "other.thing", "payload": {}')
    yield Shape("duplicate keys, not a notification", b'{"a": 1, "a": 2, "a": [3]}')
    for number in ("1e400", "-1e400", "1" * 4301, "1" * 100_000, "0." + "0" * 5000 + "1"):
        yield _notification(f"number {number[:12]}... ({len(number)})", f'"payload": {number}')
        yield Shape(f"bare number {len(number)}", number.encode())
    for size in (1_000_000, 9 * 1024 * 1024):
        yield _notification(f"string {size}", f'"payload": "{"x" * size}"')
    planes = _planes(rng)
    yield _notification(
        "every plane, UTF-8", f'"payload": {json.dumps(planes, ensure_ascii=False)}'
    )
    yield _notification("every plane, escaped", f'"payload": {json.dumps(planes)}')
    yield _notification("lone surrogate escaped", '"payload": "\\ud800 and \\udfff"')
    yield _notification("lone surrogate in a key", '"\\udbff": 1, "payload": {}')
    message_id = str(uuid.uuid4())
    yield Shape(
        "lone surrogate as bytes",
        f'{{"message_id": "{message_id}", "event_type": "{EVENT}", "p": "'.encode()
        + b"\xed\xa0\x80"
        + b'"}',
    )
    yield Shape("UTF-8 BOM", b"\xef\xbb\xbf" + _envelope(f'{{"event_type": "{EVENT}"}}'))
    yield Shape("UTF-16 LE BOM", "\ufeff{}".encode("utf-16-le"))
    yield Shape("UTF-16 BE BOM", "\ufeff[]".encode("utf-16-be"))
    yield Shape("UTF-32 BOM", "\ufeff{}".encode("utf-32"))
    yield Shape("NUL bytes", b'{"event_type": "x\x00y"}')
    yield Shape("NUL only", b"\x00" * 64)
    yield _notification("NUL escaped", '"payload": "\\u0000"')
    yield Shape("empty", b"")
    yield Shape("whitespace", b" \t\r\n ")
    yield Shape("not JSON, credentials", b"login failed: password=hunter2 token=abc123 ok")
    yield Shape("not JSON, header", b"GET / HTTP/1.1\r\nAuthorization: Basic dXNlcjpwYXNz\r\n")
    yield Shape("not JSON, URL", b"amqp://nova:s3cret@rabbit:5672/ refused")
    yield Shape("NaN", b'{"event_type": "x", "n": NaN}')
    yield Shape("trailing garbage", b'{"event_type": "x"} {}')
    yield Shape("random bytes", rng.randbytes(4096))
    yield Shape("random text", "".join(chr(rng.randrange(32, 0x2FFF)) for _ in range(500)).encode())
    yield Shape(
        "oslo.version 3.0", json.dumps({"oslo.version": "3.0", "oslo.message": "{}"}).encode()
    )
