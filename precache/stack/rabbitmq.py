"""One RabbitMQ node from Debian's package, on our own port, data folder and node name."""

import os
import subprocess
from pathlib import Path

from kombu.connection import Connection

from precache.amqp_connection import kombu_options
from precache.stack import clients
from precache.stack.install import ensure_debian_package
from precache.stack.process import read_pid, spawn
from precache.stack.settings import StackSettings

SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")


def node_name(settings: StackSettings) -> str:
    return f"precache-{settings.amqp_listen_port}@localhost"


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
    config.touch(mode=0o600)
    config.chmod(0o600)
    config.write_text(rabbitmq_conf(settings))
    (base / "enabled_plugins").write_text("[].\n")
    env = {
        **os.environ,
        "HOME": str(base / "home"),
        "RABBITMQ_NODENAME": node_name(settings),
        "RABBITMQ_CONFIG_FILE": str(config),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
        "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
        "RABBITMQ_LOG_BASE": str(base / "log"),
        "RABBITMQ_DIST_PORT": str(settings.amqp_listen_port + 20000),
        "RABBITMQ_PID_FILE": str(base / "beam.pid"),
    }
    pid = spawn([str(SERVER)], log=log_file(settings), env=env)
    pid_file(settings).write_text(f"{pid}\n")
    return pid


def rabbitmq_conf(settings: StackSettings) -> str:
    """One listener: plain TCP, or (secure) TLS only, requiring a client certificate signed by
    the stack's CA as well as the password."""
    user, password = clients.amqp_user_password(settings)
    lines = [f"default_user = {user}", f"default_pass = {password}"]
    if not settings.secure:
        lines.append(f"listeners.tcp.default = {settings.host}:{settings.amqp_port}")
    else:
        keys = clients.pki(settings)
        lines += [
            "listeners.tcp = none",
            f"listeners.ssl.default = {settings.host}:{settings.amqps_port}",
            f"ssl_options.cacertfile = {keys.ca}",
            f"ssl_options.certfile = {keys.server_cert}",
            f"ssl_options.keyfile = {keys.server_key}",
            "ssl_options.verify = verify_peer",
            "ssl_options.fail_if_no_peer_cert = true",
            "ssl_options.versions.1 = tlsv1.3",
            "ssl_options.versions.2 = tlsv1.2",
        ]
    lines.append("disk_free_limit.absolute = 50MB")
    return "\n".join(lines) + "\n"


def answers(settings: StackSettings) -> bool:
    """True when the node completes an AMQP handshake (over TLS, logged in, if secure)."""
    conn = Connection(**kombu_options(clients.amqp_connection(settings)), connect_timeout=2)
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
