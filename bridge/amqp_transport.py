"""py-amqp transports (TCP and TLS) that read the socket in large chunks.

py-amqp's ``TCPTransport._read(n)`` asks the socket for exactly the bytes it needs next, so
each message costs about nine ``recv`` calls (header, payload and end of three frames) plus
slicing. Under a full prefetch window the socket holds many messages: reading 256 KiB at a time
and handing out slices by offset makes the AMQP side several times cheaper in CPU. Everything
else (framing, timeouts, the read-buffer contract of ``read_frame``) is py-amqp's own.
"""

import errno
import ssl
import struct
from dataclasses import dataclass
from typing import Any

from amqp.transport import TCPTransport
from kombu.transport import pyamqp

_CHUNK = 262_144
_RETRY_ERRNOS = (errno.EAGAIN, errno.EINTR)
_FRAME_HEADER = struct.Struct(">BHI")  # type, channel, payload size; then payload, frame-end
_METHOD = struct.Struct(">HH")  # class id, method id
_BASIC_DELIVER = (60, 60)
_DELIVERY_TAG = struct.Struct(">QB")  # delivery tag, redelivered bit
_CONTENT_HEADER = struct.Struct(">HHQ")  # class id, weight, body size; then properties
_METHOD_FRAME, _HEADER_FRAME, _BODY_FRAME = 1, 2, 3


@dataclass(frozen=True, slots=True)
class RawDelivery:
    """A basic.deliver read straight from the buffer: what the bridge needs, nothing else."""

    channel: int
    consumer_tag: str
    delivery_tag: int
    routing_key: str
    body: bytes


class ChunkedReads:
    """The chunked reader, mixed into py-amqp's TCP and TLS transports."""

    _pos = 0
    _read_buffer: bytes
    sock: Any
    raise_on_initial_eintr: bool

    def _setup_transport(self) -> None:
        super()._setup_transport()  # type: ignore[misc]
        self._pos = 0

    def frame_buffered(self) -> bool:
        """Whether one whole frame is already read: then ``read_frame`` needs no socket call.

        py-amqp's ``drain_events(timeout=...)`` sets the socket timeout twice per call, and
        each ``settimeout`` releases the GIL: per message, under load, that hands the GIL to
        the asyncio thread and waits to get it back. Frames already read need none of that.
        """
        buf: bytes = self._read_buffer
        pos = self._pos
        if len(buf) - pos < _FRAME_HEADER.size:
            return False
        size: int = _FRAME_HEADER.unpack_from(buf, pos)[2]
        return len(buf) - pos >= _FRAME_HEADER.size + size + 1

    def next_delivery(self, channel_id: int, consumer_tags: frozenset[str]) -> RawDelivery | None:
        """The next message, if the buffer holds the whole of it as a basic.deliver to one of
        ``consumer_tags`` on ``channel_id``.

        A delivery is three or more frames (method, content header, body frames) that py-amqp
        turns into a ``Message`` with parsed properties, a ``delivery_info`` dict and a
        dispatch through the channel: more than half of the bridge's AMQP CPU. The bridge reads
        only the tag, routing key and body, so whole deliveries are cut from the buffer here;
        anything else (other methods, a message not fully read yet) is left to py-amqp, and
        since this only starts at a method frame, py-amqp's frame state is never mid-message.
        """
        buf: bytes = self._read_buffer
        end = len(buf)
        pos = self._pos
        if end - pos < _FRAME_HEADER.size + _METHOD.size:
            return None
        kind, channel, size = _FRAME_HEADER.unpack_from(buf, pos)
        start = pos + _FRAME_HEADER.size
        if (
            kind != _METHOD_FRAME
            or channel != channel_id
            or _METHOD.unpack_from(buf, start) != _BASIC_DELIVER
        ):
            return None
        header_at = start + size + 1
        if header_at + _FRAME_HEADER.size > end:
            return None
        at = start + _METHOD.size
        tag_len = buf[at]
        consumer_tag = buf[at + 1 : at + 1 + tag_len].decode()
        if consumer_tag not in consumer_tags:
            return None  # py-amqp rejects deliveries for a cancelled consumer: let it
        at += 1 + tag_len
        delivery_tag, _redelivered = _DELIVERY_TAG.unpack_from(buf, at)
        at += _DELIVERY_TAG.size
        at += 1 + buf[at]  # exchange
        key_len = buf[at]
        routing_key = buf[at + 1 : at + 1 + key_len].decode()

        kind, _, size = _FRAME_HEADER.unpack_from(buf, header_at)
        header_end = header_at + _FRAME_HEADER.size + size
        if kind != _HEADER_FRAME or header_end + 1 > end:
            return None
        body_size = _CONTENT_HEADER.unpack_from(buf, header_at + _FRAME_HEADER.size)[2]
        at = header_end + 1
        chunks = []
        received = 0
        while received < body_size:
            if at + _FRAME_HEADER.size > end:
                return None
            kind, _, size = _FRAME_HEADER.unpack_from(buf, at)
            body_at = at + _FRAME_HEADER.size
            if kind != _BODY_FRAME or body_at + size + 1 > end:
                return None
            chunks.append(buf[body_at : body_at + size])
            received += size
            at = body_at + size + 1
        self._pos = at
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return RawDelivery(channel, consumer_tag, delivery_tag, routing_key, body)

    def _read(self, n: int, initial: bool = False) -> bytes:
        buf: bytes = self._read_buffer  # py-amqp is untyped
        pos = self._pos
        if len(buf) - pos >= n:
            self._pos = pos + n
            return bytes(buf[pos : pos + n])
        buf = buf[pos:]
        try:
            while len(buf) < n:
                chunk = self._recv(initial and not buf)
                if chunk:
                    buf += chunk
        except BaseException:
            self._read_buffer, self._pos = buf, 0  # read_frame prepends to it on timeout
            raise
        self._read_buffer, self._pos = buf, n
        return bytes(buf[:n])

    def _recv(self, initial: bool) -> bytes:
        try:
            chunk: bytes = self.sock.recv(_CHUNK)
        except OSError as exc:
            if exc.errno in _RETRY_ERRNOS:
                if initial and self.raise_on_initial_eintr:
                    raise TimeoutError() from exc
                return b""
            raise
        if not chunk:
            raise OSError("Server unexpectedly closed connection")
        return chunk


class ChunkedTCPTransport(ChunkedReads, TCPTransport):  # type: ignore[misc]
    pass


class ChunkedSSLTransport(ChunkedReads, TCPTransport):  # type: ignore[misc]
    """TLS done in memory (``ssl.MemoryBIO``) over a plain socket, read in chunks.

    RabbitMQ sends each delivery as a TLS record of its own and an ``SSLSocket`` read returns
    one record: through one, every message costs a ``recv`` and a ``select`` (measured: one
    read per message, the bridge's CPU per message doubled). Here the socket is read 256 KiB
    at a time, as over plain TCP, and every whole record in it is decrypted at once.
    """

    def __init__(self, host: str, connect_timeout: float | None = None, **kwargs: Any) -> None:
        options = kwargs.pop("ssl", None)
        self.sslopts: dict[str, Any] = options if isinstance(options, dict) else {}
        super().__init__(host, connect_timeout=connect_timeout, **kwargs)

    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = _client_context(self.sslopts).wrap_bio(
            self._incoming, self._outgoing, server_hostname=self.sslopts.get("server_hostname")
        )
        self._write = self._write_tls
        self.sock.settimeout(self.connect_timeout)  # as py-amqp's: no hang in the handshake
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self._flush()
                self._fill(self.sock.recv(_CHUNK))
        self._flush()

    def _fill(self, raw: bytes) -> None:
        if not raw:
            raise OSError("Server unexpectedly closed connection")
        self._incoming.write(raw)

    def _flush(self) -> None:
        pending = self._outgoing.read()
        if pending:
            self.sock.sendall(pending)

    def _write_tls(self, data: bytes) -> None:
        self._tls.write(data)  # into memory: never partial
        self._flush()

    def _decrypted(self) -> bytes:
        """Everything the records received so far hold (b"" if no whole record yet)."""
        parts = []
        try:
            while True:
                parts.append(self._tls.read(_CHUNK))
        except ssl.SSLWantReadError:
            pass
        except ssl.SSLZeroReturnError:
            if not parts:
                raise OSError("Server unexpectedly closed connection") from None
        self._flush()  # TLS 1.3 may answer post-handshake messages
        return b"".join(parts)

    def _recv(self, initial: bool) -> bytes:
        chunk = self._decrypted()
        if chunk:
            return chunk
        raw = super()._recv(initial)
        if raw:
            self._incoming.write(raw)
            return self._decrypted()
        return raw


_SSL_OPTIONS = {"ca_certs", "certfile", "keyfile", "cert_reqs", "server_hostname"}


def _client_context(options: dict[str, Any]) -> ssl.SSLContext:
    """py-amqp's context from kombu's ``ssl`` options (those :mod:`precache.amqp_connection`
    gives): verified against ``ca_certs`` or the system's CAs, hostname checked when named."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = options.get("server_hostname") is not None
    context.verify_mode = options.get("cert_reqs", ssl.CERT_REQUIRED)
    if options.get("certfile"):
        context.load_cert_chain(options["certfile"], options.get("keyfile"))
    if options.get("ca_certs"):
        context.load_verify_locations(options["ca_certs"])
    else:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    return context


class _AmqpConnection(pyamqp.Connection):
    def Transport(
        self,
        host: str,
        connect_timeout: float | None,
        ssl: Any = False,
        read_timeout: float | None = None,
        write_timeout: float | None = None,
        socket_settings: Any = None,
        **kwargs: Any,
    ) -> TCPTransport:
        """py-amqp's factory, same signature, with the chunked readers."""
        options = {
            "read_timeout": read_timeout,
            "write_timeout": write_timeout,
            "socket_settings": socket_settings,
            **kwargs,
        }
        if ssl and not (isinstance(ssl, dict) and set(ssl) <= _SSL_OPTIONS):
            return super().Transport(host, connect_timeout, ssl, **options)  # py-amqp's own
        if ssl:
            return ChunkedSSLTransport(host, connect_timeout=connect_timeout, ssl=ssl, **options)
        return ChunkedTCPTransport(host, connect_timeout=connect_timeout, **options)


class KombuTransport(pyamqp.Transport):
    """kombu's py-amqp transport, with chunked reads (plain TCP and TLS)."""

    Connection = _AmqpConnection
