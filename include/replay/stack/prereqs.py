"""Programs the stack needs on the machine: Java 17+ to run Kafka, Maven to fetch its jars."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from replay.errors import PrerequisiteError

MIN_JAVA = 17
_JAVA_HINT = (
    "install a Java 17+ runtime (Debian/Ubuntu: apt-get install openjdk-17-jre-headless) or set JAVA_HOME"
)
_MVN_HINT = (
    "install Maven 3 (Debian/Ubuntu: apt-get install maven); it fetches Kafka's jars from Maven Central"
)


def find_java() -> Path:
    """The ``java`` to run Kafka with: ``$JAVA_HOME/bin/java`` if set, else the one on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
        raise PrerequisiteError(f"JAVA_HOME={java_home} has no bin/java", hint=_JAVA_HINT)
    found = shutil.which("java")
    if not found:
        raise PrerequisiteError("java was not found on PATH (Kafka needs Java 17+)", hint=_JAVA_HINT)
    return Path(found)


def java_major_version(java: Path) -> int:
    """The major version of a java binary, read from ``java -version``."""
    try:
        completed = subprocess.run(
            [str(java), "-version"], capture_output=True, text=True, timeout=30, check=False
        )
    except OSError as error:
        raise PrerequisiteError(f"cannot run {java}: {error}", hint=_JAVA_HINT) from error
    match = re.search(r'version "(\d+)(?:\.(\d+))?', completed.stderr + completed.stdout)
    if not match:
        raise PrerequisiteError(f"cannot tell the version of {java}", hint=_JAVA_HINT)
    major = int(match.group(1))
    # Java 8 and older report "1.8.0_..."
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> Path:
    """Java 17+, or a :class:`PrerequisiteError` that says what to install."""
    java = find_java()
    major = java_major_version(java)
    if major < MIN_JAVA:
        raise PrerequisiteError(f"{java} is Java {major}; Kafka 4 needs Java {MIN_JAVA}+", hint=_JAVA_HINT)
    return java


def require_maven() -> Path:
    """``mvn`` on PATH, or a :class:`PrerequisiteError` that says what to install."""
    found = shutil.which("mvn")
    if not found:
        raise PrerequisiteError("mvn was not found on PATH (needed once to fetch Kafka)", hint=_MVN_HINT)
    return Path(found)
