"""The simulator against a RabbitMQ that refuses it or goes away: one line, exit 3, bounded."""

import contextlib
import json
import socket
import threading
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import pytest
from kombu.connection import Connection
from kombu.entity import Exchange, Queue
from pydantic import SecretStr
from typer.testing import CliRunner

from precache.cli import app
from precache.errors import DeliveryError
from precache.simulate import SimulateSettings, SimulationPlan
from precache.simulate.conductor import simulate_operation

pytestmark = pytest.mark.integration


def with_credentials(amqp_url: str, user: str, password: str, vhost: str = "/") -> str:
    parts = urlsplit(amqp_url)
    return f"amqp://{user}:{password}@{parts.hostname}:{parts.port}/{vhost}"


@pytest.mark.parametrize(
    ("password", "vhost", "expected"),
    [
        ("wrong", "/", "refused us (check the user and password): ACCESS_REFUSED"),
        ("guest", "no-such-vhost", "refused us (check the vhost (the URL's path)): NOT_ALLOWED"),
    ],
)
def test_refused_login_or_vhost_is_one_line_and_exit_3(
    amqp_url: str, password: str, vhost: str, expected: str
) -> None:
    url = with_credentials(amqp_url, "guest", password, vhost)
    result = CliRunner().invoke(app, ["simulate", "--hosts", "2", "--amqp-url", url])
    assert result.exit_code == 3, result.output
    (line,) = [x for x in result.output.splitlines() if not x.startswith("operation ")]
    assert line.startswith("error: RabbitMQ at amqp://guest:***@")
    assert expected in line


class Proxy:
    """A TCP relay to RabbitMQ that the test can cut: the broker "goes away" mid-run."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass

    def cut(self) -> None:
        """Refuse new connections and drop the open ones (a closed but blocked accept()
        would go on accepting: shutdown wakes it)."""
        for s in [self.listener, *self.sockets]:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture
def tap(amqp_url: str, unique_name: Callable[[str], str]) -> Iterator[tuple[Connection, Queue]]:
    exchange = unique_name("nova")
    with Connection(amqp_url) as conn:
        queue = Queue(
            unique_name("tap"),
            Exchange(exchange, type="topic", durable=False),
            routing_key="versioned_notifications.*",
            auto_delete=True,
        )
        queue(conn.default_channel).declare()
        yield conn, queue


def test_broker_gone_mid_run_raises_delivery_error_instead_of_retrying_for_ever(
    amqp_url: str, tap: tuple[Connection, Queue]
) -> None:
    conn, queue = tap
    parts = urlsplit(amqp_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5672))
    settings = SimulateSettings(
        amqp_url=SecretStr(
            with_credentials(amqp_url, "guest", "guest").replace(
                f":{parts.port}/", f":{proxy.port}/"
            )
        ),
        control_exchange=queue.exchange.name,
        publish_retries=1,
    )
    plan = SimulationPlan(hosts=30, delay_s=0.2, concurrency=1)
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            simulate_operation(settings, plan)
            outcome.append(None)
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=run, daemon=True)
    sender.start()
    first = conn.SimpleQueue(queue).get(timeout=30)  # the start went through the proxy
    assert json.loads(json.loads(first.body)["oslo.message"])["event_type"].endswith(".start")
    proxy.cut()
    sender.join(120)

    assert not sender.is_alive(), "the simulator kept retrying after the broker went away"
    (error,) = outcome
    assert isinstance(error, DeliveryError), error
    assert "stopped taking notifications after" in str(error)
