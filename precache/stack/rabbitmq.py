"""One RabbitMQ node from Debian's package, on our own port, data folder and node name."""

import os
import subprocess
from pathlib import Path

from kombu.connection import Connection

from precache.stack.install import ensure_debian_package
from precache.stack.process import read_pid, spawn
from precache.stack.settings import StackSettings

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def node_name(settings: StackSettings) -> str:
    return f"precache-{settings.amqp_port}@localhost"


def pid_file(settings: StackSettings) -> Path:
    return settings.rabbitmq_dir / "launcher.pid"


def log_file(settings: StackSettings) -> Path:
    return settings.rabbitmq_dir / "log" / "console.log"


def running_pid(settings: StackSettings) -> int | None:
    return read_pid(pid_file(settings))


def start(settings: StackSettings) -> int:
    """Start the node in the background and return the launcher's pid (its group leader)."""
    ensure_debian_package("rabbitmq-server", SERVER)
    base = settings.rabbitmq_dir
    for sub in ("mnesia", "log", "home"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    config = base / "rabbitmq.conf"
    config.write_text(
        f"listeners.tcp.default = {settings.host}:{settings.amqp_port}\n"
        f"default_user = {settings.amqp_user}\n"
        f"default_pass = {settings.amqp_password.get_secret_value()}\n"
        "disk_free_limit.absolute = 50MB\n"
    )
    config.chmod(0o600)
    (base / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(base / "home"),
        "RABBITMQ_NODENAME": node_name(settings),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_DIST_PORT": str(settings.amqp_port + 20000),
        "RABBITMQ_PID_FILE": str(base / "beam.pid"),
    }
    pid = spawn([str(SERVER)], log=log_file(settings), env=env)
    pid_file(settings).write_text(f"{pid}\n")
    return pid


def answers(settings: StackSettings) -> bool:
    """True when the node completes an AMQP handshake."""
    conn = Connection(settings.amqp_url, connect_timeout=2)
    try:
        conn.connect()
    except Exception:
        return False
    finally:
        conn.release()
    return True


def stop_epmd_if_idle() -> None:
    """Erlang starts a shared ``epmd`` daemon; stop it once no node is registered with it."""
    try:
        names = subprocess.run(["epmd", "-names"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return
    if names.returncode == 0 and "name " not in names.stdout:
        subprocess.run(["epmd", "-kill"], capture_output=True, timeout=5, check=False)
