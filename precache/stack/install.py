"""Installs what the local brokers need: Debian packages and Kafka's jars from Maven Central."""

import os
import shutil
import subprocess
import tempfile
from importlib import resources
from pathlib import Path

from precache.errors import StackError

_POLICY_RC = Path("/usr/sbin/policy-rc.d")


def ensure_debian_package(package: str, provides: Path) -> None:
    """Install ``package`` with apt when ``provides`` is missing.

    The package's own service is kept from starting (policy-rc.d): we run our own broker on our
    own ports and files, and a system one would take the default port.
    """
    if provides.exists():
        return
    if os.geteuid() != 0:
        raise StackError(
            f"{provides} is missing: install Debian's {package} package "
            f"(sudo apt-get install -y {package}) and run this again"
        )
    if shutil.which("apt-get") is None:
        raise StackError(f"{provides} is missing and apt-get is not available to install {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    created_policy = not _POLICY_RC.exists()
    if created_policy:
        _POLICY_RC.write_text(
            "#!/bin/sh\n# written by precache stack: keep services down\nexit 101\n"
        )
        _POLICY_RC.chmod(0o755)
    try:
        _run(["apt-get", "update", "-q"], env=env)
        _run(["apt-get", "install", "-y", "-q", package], env=env)
    finally:
        if created_policy:
            _POLICY_RC.unlink(missing_ok=True)
    if not provides.exists():
        raise StackError(f"installed {package} but {provides} is still missing")


def ensure_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError("java is not on PATH: Kafka needs a Java runtime (17 or newer)")
    return java


def ensure_kafka_jars(version: str, libs_dir: Path) -> Path:
    """Copy Kafka ``version`` and its dependencies from Maven Central into ``libs_dir`` once."""
    if libs_dir.is_dir() and any(libs_dir.glob("kafka_2.13-*.jar")):
        return libs_dir
    if shutil.which("mvn") is None:
        ensure_debian_package("maven", Path("/usr/bin/mvn"))
    libs_dir.parent.mkdir(parents=True, exist_ok=True)
    pom = resources.files("precache.stack").joinpath("kafka-pom.xml").read_text()
    with tempfile.TemporaryDirectory(dir=libs_dir.parent) as work:
        (Path(work) / "pom.xml").write_text(pom)
        staging = Path(work) / "libs"
        _run(
            [
                "mvn",
                "-q",
                "-B",
                f"-Dkafka.version={version}",
                "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}",
                "-DincludeScope=runtime",
            ],
            cwd=Path(work),
        )
        if not any(staging.glob("kafka_2.13-*.jar")):
            raise StackError(f"Maven finished but no kafka_2.13-{version} jar arrived in {staging}")
        staging.rename(libs_dir)
    return libs_dir


def _run(argv: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
    result = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-20:]
        raise StackError(
            f"{' '.join(argv[:3])} failed ({result.returncode}):\n" + "\n".join(output)
        )
