"""The Nova API stand-in as a child process, and clouds.yaml files pointing openstacksdk at it."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.support.worker import PRECACHE, free_port


class StandIn:
    """``precache nova-api`` with a JSON config; stopped by its pid."""

    def __init__(self, config: dict[str, Any], tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tmp / f"nova-api-{self.port}.log"
        config_file = tmp / f"nova-api-{self.port}.json"
        config_file.write_text(json.dumps(config))
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [PRECACHE, "nova-api", "--config", str(config_file), "--port", str(self.port)],
                env={**os.environ, **env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait_ready(self, timeout: float = 60) -> "StandIn":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                with urllib.request.urlopen(self.url + "/", timeout=2):
                    return self
            except urllib.error.HTTPError:
                return self
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"nova-api stand-in not up in {timeout}s\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def noauth_cloud(url: str, token: str = "admin:admin", region: str | None = None) -> dict[str, Any]:
    """How one reaches a noauth Nova with openstacksdk: a noauth2 token, endpoint overrides."""
    cloud: dict[str, Any] = {
        "auth_type": "admin_token",
        "auth": {"token": token, "endpoint": f"{url}/v2.1"},
        "compute_endpoint_override": f"{url}/v2.1",
        "image_endpoint_override": f"{url}/image",
    }
    if region is not None:
        cloud["region_name"] = region
    return cloud


def write_clouds(path: Path, clouds: dict[str, dict[str, Any]]) -> Path:
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path
