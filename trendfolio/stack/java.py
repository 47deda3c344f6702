"""What Spark in local mode needs on the host: Java 17 or 21 and the PostgreSQL JDBC driver."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from trendfolio.settings import StackError

JDBC_JAR_CANDIDATES = ("/usr/share/java/postgresql.jar",)
JDBC_MAVEN_PACKAGE = "org.postgresql:postgresql:42.7.4"


def java_major_version(java: str = "java") -> int:
    if shutil.which(java) is None and not os.environ.get("JAVA_HOME"):
        raise StackError(
            "Java is not installed (no java on PATH, JAVA_HOME unset): Spark needs Java 17 or 21 "
            "(Debian: apt-get install openjdk-17-jre-headless)"
        )
    binary = str(Path(os.environ["JAVA_HOME"]) / "bin" / "java") if os.environ.get("JAVA_HOME") else java
    if os.environ.get("JAVA_HOME") and not Path(binary).is_file():
        raise StackError(f"JAVA_HOME={os.environ['JAVA_HOME']} has no bin/java: point it at a Java 17 or 21 install")
    result = subprocess.run([binary, "-version"], capture_output=True, text=True)
    match = re.search(r'version "(\d+)(?:\.(\d+))?', result.stderr)
    if not match:
        raise StackError(f"cannot read the Java version from `{binary} -version`: install Java 17 or 21")
    major = int(match.group(1))
    return int(match.group(2)) if major == 1 else major


def check_java() -> int:
    major = java_major_version()
    if major not in (17, 21):
        raise StackError(f"Spark needs Java 17 or 21, found Java {major}: install one and set JAVA_HOME")
    return major


def jdbc_jar() -> str | None:
    """The PostgreSQL JDBC driver on disk, or None when Spark should fetch it as a package."""
    explicit = os.environ.get("TRENDFOLIO_JDBC_JAR")
    if explicit:
        if not Path(explicit).is_file():
            raise StackError(f"TRENDFOLIO_JDBC_JAR={explicit} is not a file: point it at postgresql.jar")
        return explicit
    return next((jar for jar in JDBC_JAR_CANDIDATES if Path(jar).is_file()), None)


def check_spark_prerequisites() -> dict:
    java = check_java()
    jar = jdbc_jar()
    if jar is None and os.environ.get("TRENDFOLIO_JDBC_FROM_MAVEN") != "1":
        raise StackError(
            "the PostgreSQL JDBC driver is missing: apt-get install libpostgresql-jdbc-java, "
            "set TRENDFOLIO_JDBC_JAR=/path/to/postgresql.jar, or TRENDFOLIO_JDBC_FROM_MAVEN=1 to let Spark fetch it"
        )
    return {"java": java, "jdbc_jar": jar or JDBC_MAVEN_PACKAGE}
