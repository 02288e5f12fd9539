"""The Kafka runtime: pinned jars from Maven Central, cached under ``var/kafka``.

The pom in ``resources/kafka-runtime-pom.xml`` pins Kafka, the log4j2 backend and the Prometheus
JMX exporter agent. ``ensure_runtime`` runs ``mvn dependency:copy-dependencies`` once into a folder
named after the Kafka version and the pom's hash, so a second start downloads nothing and a pom
change (a version bump) gets a fresh folder.
"""

from __future__ import annotations

import hashlib
import logging
import re
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from replay.errors import StackError
from replay.stack.prereqs import require_maven

log = logging.getLogger(__name__)

POM_RESOURCE = "kafka-runtime-pom.xml"
_READY_MARKER = ".complete"


def pom_text() -> str:
    """The pinned pom shipped with the package."""
    return resources.files("replay.stack.resources").joinpath(POM_RESOURCE).read_text(encoding="utf-8")


def pinned_versions(pom: str | None = None) -> dict[str, str]:
    """The ``<properties>`` of the pom: kafka.version, log4j.version, jmx.exporter.version."""
    text = pom if pom is not None else pom_text()
    return dict(re.findall(r"<([a-z0-9.]+\.version)>([^<]+)</", text))


@dataclass(frozen=True)
class KafkaRuntime:
    """A fetched Kafka runtime: a folder of jars."""

    home: Path
    kafka_version: str

    @property
    def libs(self) -> Path:
        return self.home / "libs"

    @property
    def classpath(self) -> str:
        """A JVM classpath wildcard over every jar."""
        return str(self.libs / "*")

    @property
    def jmx_exporter_agent(self) -> Path:
        jars = sorted(self.libs.glob("jmx_prometheus_javaagent-*.jar"))
        if not jars:
            raise StackError(
                f"the JMX exporter agent jar is missing from {self.libs}",
                hint=f"delete {self.home} and run `replay stack fetch` again",
            )
        return jars[-1]


def runtime_home(base_dir: Path) -> Path:
    """The cache folder for the pinned pom: ``<base>/<kafka version>-<pom hash>``."""
    text = pom_text()
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:10]
    return base_dir / f"{pinned_versions(text)['kafka.version']}-{digest}"


def find_runtime(base_dir: Path) -> KafkaRuntime | None:
    """The cached runtime for the pinned pom, if it was fetched completely."""
    home = runtime_home(base_dir.resolve())
    if (home / _READY_MARKER).is_file():
        return KafkaRuntime(home=home, kafka_version=pinned_versions()["kafka.version"])
    return None


def ensure_runtime(base_dir: Path) -> KafkaRuntime:
    """The cached runtime, fetching it with Maven first if needed (one time, about 15 s)."""
    cached = find_runtime(base_dir)
    if cached is not None:
        return cached
    mvn = require_maven()
    home = runtime_home(base_dir.resolve())
    libs = home / "libs"
    libs.mkdir(parents=True, exist_ok=True)
    pom_path = home / "pom.xml"
    pom_path.write_text(pom_text(), encoding="utf-8")
    version = pinned_versions()["kafka.version"]
    log.info("fetching Kafka %s jars from Maven Central into %s", version, libs)
    command = [
        str(mvn),
        "-q",
        "-B",
        "-f",
        str(pom_path),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={libs}",
    ]
    completed = subprocess.run(command, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-15:])
        raise StackError(
            f"mvn could not fetch the Kafka {version} jars (exit {completed.returncode}):\n{tail}",
            hint="check that Maven Central (repo.maven.apache.org) is reachable, then run "
            "`replay stack fetch` again",
        )
    if not list(libs.glob(f"kafka_2.13-{version}.jar")):
        raise StackError(
            f"mvn finished but {libs} holds no kafka_2.13-{version}.jar",
            hint=f"delete {home} and run `replay stack fetch` again",
        )
    (home / _READY_MARKER).write_text(version + "\n", encoding="utf-8")
    return KafkaRuntime(home=home, kafka_version=version)
