"""The secure stack refuses what is not TLS or not authenticated, and precache says why in one
line (exit 3) without the secret; ``amqps://`` never sends a plaintext byte."""

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from kombu.connection import Connection

from precache.stack import StackSettings
from precache.stack.pki import ensure_pki
from tests.support.secure import (
    command_env,
    precache,
    proxy,
    run,
    stack_env,
    wait_for_line,
)

pytestmark = pytest.mark.integration

_KAFKA_TLS = (
    "PRECACHE_KAFKA_SASL_MECHANISM",
    "PRECACHE_KAFKA_SASL_USERNAME",
    "PRECACHE_KAFKA_SASL_PASSWORD_FILE",
    "PRECACHE_KAFKA_SSL_CAFILE",
    "PRECACHE_KAFKA_SSL_CERTFILE",
    "PRECACHE_KAFKA_SSL_KEYFILE",
)
_AMQP_TLS = ("PRECACHE_AMQP_SSL_CAFILE", "PRECACHE_AMQP_SSL_CERTFILE", "PRECACHE_AMQP_SSL_KEYFILE")
WRONG = "wrong-password-3f9a1c"


@pytest.fixture(scope="module")
def configured(secure_stack: StackSettings) -> dict[str, str]:
    return stack_env(secure_stack)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A CA that did not sign the stack's certificates."""
    return str(ensure_pki(tmp_path_factory.mktemp("other-pki")).ca)


def _env(configured: dict[str, str], other_ca: str, tmp: Path, case: str) -> dict[str, str]:
    """The env of ``stack env --secure`` with one thing wrong."""
    # far longer than the test waits (run's timeout): a refusal must be told at once
    env = command_env(configured, PRECACHE_CONNECT_TIMEOUT_S="600")
    wrong = tmp / "wrong-password"
    wrong.write_text(WRONG + "\n")
    if case == "kafka plaintext":
        env["PRECACHE_KAFKA_SECURITY_PROTOCOL"] = "PLAINTEXT"
        for name in _KAFKA_TLS:
            env.pop(name)
    elif case == "kafka password":
        env["PRECACHE_KAFKA_SASL_PASSWORD_FILE"] = str(wrong)
    elif case == "kafka ca":
        env["PRECACHE_KAFKA_SSL_CAFILE"] = other_ca
    elif case == "amqp plaintext":
        env["PRECACHE_AMQP_URL"] = env["PRECACHE_AMQP_URL"].replace("amqps://", "amqp://")
        for name in _AMQP_TLS:
            env.pop(name)
    elif case == "amqp password":
        env["PRECACHE_AMQP_PASSWORD_FILE"] = str(wrong)
    elif case == "amqp ca":
        env["PRECACHE_AMQP_SSL_CAFILE"] = other_ca
    else:
        raise AssertionError(case)
    return env


CASES = [
    (["audit"], "kafka plaintext", "closed a plaintext connection"),
    (["audit"], "kafka password", "SASL SCRAM-SHA-512 login as 'precache' refused"),
    (["audit"], "kafka ca", "its TLS certificate is not trusted"),
    (["worker"], "kafka plaintext", "closed a plaintext connection"),
    (["bridge"], "kafka ca", "its TLS certificate is not trusted"),
    (["simulate", "--hosts", "1"], "amqp plaintext", "reset a plaintext connection"),
    (["simulate", "--hosts", "1"], "amqp password", "ACCESS_REFUSED"),
    (["simulate", "--hosts", "1"], "amqp ca", "its TLS certificate is not trusted"),
    (["bridge"], "amqp plaintext", "reset a plaintext connection"),
    (["bridge"], "amqp ca", "its TLS certificate is not trusted"),
]


@dataclass(frozen=True)
class Refusal:
    env: dict[str, str]
    status: int
    output: str
    stderr: str


@pytest.fixture(scope="module")
def refusals(
    configured: dict[str, str], other_ca: str, tmp_path_factory: pytest.TempPathFactory
) -> dict[int, Refusal]:
    """Every case's command, run side by side (each mostly starts Python and fails at once)."""
    started = []
    for n, (command, case, _) in enumerate(CASES):
        tmp = tmp_path_factory.mktemp(f"refusal-{n}")
        env = _env(configured, other_ca, tmp, case)
        env["PRECACHE_DATA_DIR"] = str(tmp / "worker")
        process = subprocess.Popen(
            precache(*command), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append((env, process))
    done: dict[int, Refusal] = {}
    for n, (env, process) in enumerate(started):
        try:
            out, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            out, err = process.communicate()
        done[n] = Refusal(env, process.returncode, out, err)
    return done


@pytest.mark.parametrize(("n", "case"), [(n, f"{c[0][0]} {c[1]}") for n, c in enumerate(CASES)])
def test_refused_in_one_line_naming_the_cause(
    refusals: dict[int, Refusal], n: int, case: str
) -> None:
    says = CASES[n][2]
    done = refusals[n]
    assert done.status == 3, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("error: "), done.stderr[-3000:]
    assert says in last
    assert "Traceback" not in done.stderr
    for secret in (WRONG, *_passwords(done.env)):
        assert secret not in done.output + done.stderr


def _passwords(env: dict[str, str]) -> list[str]:
    files = [env.get("PRECACHE_AMQP_PASSWORD_FILE"), env.get("PRECACHE_KAFKA_SASL_PASSWORD_FILE")]
    return [Path(f).read_text().strip() for f in files if f]


def test_amqps_never_sends_plaintext(
    secure_stack: StackSettings,
    configured: dict[str, str],
    stack: StackSettings,
    tmp_path: Path,
    unique_name: Callable[[str], str],
) -> None:
    """Everything the bridge and the simulator send to an amqps:// URL is TLS from the first
    byte (a ClientHello: 0x16 0x03), never the AMQP protocol header; the same proxy sees the
    header on a plain amqp:// connection, so it would see one."""
    name = unique_name("amqps")
    with proxy((secure_stack.host, secure_stack.amqps_port)) as tls:
        url = f"amqps://precache@127.0.0.1:{tls.port}//"
        env = command_env(
            configured,
            PRECACHE_AMQP_URL=url,
            PRECACHE_EXCHANGE=name,
            PRECACHE_CONTROL_EXCHANGE=name,
            PRECACHE_QUEUE=name,
            PRECACHE_RAW_TOPIC=f"{name}.raw",
            PRECACHE_DLQ_TOPIC=f"{name}.raw.dlq",
        )
        log = tmp_path / "bridge.log"
        with log.open("w") as out:
            bridge = subprocess.Popen(
                precache("bridge"), env=env, stdout=out, stderr=subprocess.STDOUT, text=True
            )
        try:
            wait_for_line(log, "amqp consuming", bridge, timeout=90)
            simulate = run(["simulate", "--hosts", "2"], env, timeout=90)
            assert simulate.returncode == 0, simulate.stderr
        finally:
            bridge.terminate()
            bridge.wait(timeout=30)
        streams = tls.client_streams()
    assert len(streams) >= 2  # the bridge's connection and the simulator's
    for stream in streams:
        assert stream[:2] == b"\x16\x03", stream[:16]
        assert b"AMQP" not in stream

    with proxy((stack.host, stack.amqp_port)) as plain:
        url = stack.amqp_url.replace(f":{stack.amqp_port}/", f":{plain.port}/")
        with Connection(url, connect_timeout=10) as conn:
            conn.connect()
        assert plain.client_streams()[0].startswith(b"AMQP")


def test_stack_status_and_env_of_the_secure_stack(secure_stack: StackSettings) -> None:
    env = command_env(
        {
            "PRECACHE_STACK_STATE_DIR": str(secure_stack.state_dir),
            "PRECACHE_STACK_AMQPS_PORT": str(secure_stack.amqps_port),
            "PRECACHE_STACK_KAFKA_SASL_PORT": str(secure_stack.kafka_sasl_port),
            "PRECACHE_STACK_KAFKA_SASL_CONTROLLER_PORT": str(
                secure_stack.kafka_sasl_controller_port
            ),
        }
    )
    status = run(["stack", "status", "--secure"], env)
    assert status.returncode == 0, status.stdout + status.stderr
    assert f"amqps://{secure_stack.host}:{secure_stack.amqps_port}" in status.stdout
    assert status.stdout.count("answering") == 2
    printed = run(["stack", "env", "--secure"], env).stdout
    assert (
        f"export PRECACHE_KAFKA_BOOTSTRAP={secure_stack.host}:{secure_stack.kafka_sasl_port}"
        in printed
    )
    assert "export PRECACHE_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in printed
