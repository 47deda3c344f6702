"""Airflow 3 DAG `daily_pipeline_controller`: at 21:30 UTC, run Dagster's `daily_pipeline` for the day's NYSE session.

Airflow is the scheduler; Dagster does the work. The DAG
  1. works out the session explicitly: `dag_run.conf {"session_date": "YYYY-MM-DD"}` when given (a manual re-run of
     any session), else the run's logical date in America/New_York as a calendar date (21:30 UTC is 16:30 EST or
     17:30 EDT, after the 16:00 close). Airflow 3's cron timetable sets the logical date to the run's time, where
     Airflow 2 used the start of the data interval, and a Dagster partition starts at midnight: neither default is
     the session, so the DAG never relies on one. A date that cannot be read fails the run saying so. The DAG's
     start_date is far in the past (catchup off) so that a run for any old logical date runs its tasks: with a
     later start_date Airflow would create the run but no task, and report it green;
  2. asks Dagster whether the job has a partition for that date, and skips the rest of the run when it has not
     (a weekend, a holiday or a one-off closure: the partitions are exchange_calendars' NYSE sessions);
  3. launches `daily_pipeline` for the session's partition through the Dagster webserver's GraphQL API, tagged with
     the Airflow run id — or, when a run with that tag and session is already going or succeeded (the task was
     cleared or retried), follows that run instead of starting a second one;
  4. waits for the Dagster run and fails (no retry) with the run id and Dagster's failure messages.

Self-contained on purpose: it imports nothing from the Trendfolio project, only Airflow and the standard library, so
the file can be dropped into any Airflow 3 deployment. It never decides what a session is itself: Dagster knows.

Airflow Variables (or AIRFLOW_VAR_<NAME> environment variables):
  dagster_url           the Dagster webserver, default http://127.0.0.1:3000 (the local `trendfolio ui`)
  dagster_location      the code location, default `trendfolio` (workspace.yaml)
  dagster_poll_seconds  how often to ask Dagster for the run's status, default 15
"""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
from zoneinfo import ZoneInfo

from airflow.sdk import DAG, Variable, get_current_context, task
from airflow.sdk.exceptions import AirflowFailException

DAG_ID = "daily_pipeline_controller"
DAGSTER_JOB = "daily_pipeline"
DAGSTER_REPOSITORY = "__repository__"  # the name Dagster gives the repository of a `Definitions` object
DEFAULT_DAGSTER_URL = "http://127.0.0.1:3000"
NEW_YORK = ZoneInfo("America/New_York")
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}
# A run of this Airflow run in one of these states is followed instead of launching another (FAILURE and CANCELED
# runs are not: clearing a failed task launches a new run).
REUSABLE = {"QUEUED", "NOT_STARTED", "MANAGED", "STARTING", "STARTED", "SUCCESS"}
HTTP_TIMEOUT_S = 60

LAUNCH_RUN = """
mutation LaunchRun($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on Error { message }
  }
}
"""
RUNS_OF_AIRFLOW_RUN = """
query RunsOfAirflowRun($filter: RunsFilter!) {
  runsOrError(filter: $filter) {
    __typename
    ... on Runs { results { runId status } }
    ... on Error { message }
  }
}
"""
PARTITION_KEYS = """
query PartitionKeys($selector: PipelineSelector!) {
  pipelineOrError(params: $selector) {
    __typename
    ... on Pipeline { partitionKeysOrError { partitionKeys } }
    ... on Error { message }
  }
}
"""
RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on Error { message }
  }
}
"""
RUN_FAILURES = """
query RunFailures($runId: ID!, $cursor: String) {
  logsForRun(runId: $runId, afterCursor: $cursor) {
    __typename
    ... on EventConnection {
      cursor
      hasMore
      events {
        __typename
        ... on ExecutionStepFailureEvent { stepKey error { message causes { message } } }
        ... on RunFailureEvent { message }
        ... on RunCanceledEvent { message }
      }
    }
    ... on Error { message }
  }
}
"""


# --- which day the run is for ------------------------------------------------------------------------------------


def session_date_for(moment: dt.datetime) -> dt.date:
    """The session a run at `moment` is for: its calendar date in New York."""
    if moment.tzinfo is None:
        raise ValueError(f"{moment} has no time zone: cannot tell which day it is in New York")
    return moment.astimezone(NEW_YORK).date()


def session_of_run(conf: dict, logical_date: dt.datetime | None, run_after: dt.datetime | None) -> dt.date:
    """The session a run is for: conf's `session_date` when given, else the logical date's day in New York (a manual
    run may have no logical date: then the time it was triggered for). Fails the run when neither can be read."""
    override = conf.get("session_date")
    if override:
        try:
            return dt.date.fromisoformat(str(override))
        except ValueError:
            raise AirflowFailException(f"conf session_date {override!r} is not a date (YYYY-MM-DD): "
                                       "nothing launched") from None
    moment = logical_date or run_after
    if moment is None:
        raise AirflowFailException("the run has neither a logical date nor conf session_date: cannot tell which "
                                   "session to run; trigger it with conf {\"session_date\": \"YYYY-MM-DD\"}")
    return session_date_for(moment)


# --- Dagster's GraphQL API --------------------------------------------------------------------------------------


def dagster_url() -> str:
    return Variable.get("dagster_url", default=DEFAULT_DAGSTER_URL).rstrip("/")


def graphql(query: str, variables: dict) -> dict:
    request = urllib.request.Request(
        f"{dagster_url()}/graphql",
        data=json.dumps({"query": query, "variables": variables}).encode(),
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S) as response:
            body = json.load(response)
    except urllib.error.HTTPError as error:
        raise RuntimeError(f"Dagster at {dagster_url()} answered HTTP {error.code}: {error.read()[:500]!r}") from error
    except urllib.error.URLError as error:
        raise RuntimeError(f"cannot reach Dagster at {dagster_url()} (Variable dagster_url): {error.reason}") from error
    if body.get("errors"):
        raise RuntimeError(f"Dagster GraphQL errors: {[e.get('message') for e in body['errors']]}")
    return body["data"]


def runs_tagged(tags: dict[str, str]) -> list[dict]:
    """Dagster's runs of the job carrying all of `tags`, newest first: {"runId", "status"}."""
    result = graphql(RUNS_OF_AIRFLOW_RUN, {"filter": {
        "pipelineName": DAGSTER_JOB, "tags": [{"key": k, "value": v} for k, v in tags.items()]}})["runsOrError"]
    if result["__typename"] != "Runs":
        raise RuntimeError(f"cannot list Dagster's runs: {result['__typename']}: {result.get('message')}")
    return result["results"]


def is_partition(session: dt.date) -> bool:
    """Whether Dagster's job has a partition for `session`: its partitions are the NYSE sessions."""
    selector = {"repositoryLocationName": Variable.get("dagster_location", default="trendfolio"),
                "repositoryName": DAGSTER_REPOSITORY, "pipelineName": DAGSTER_JOB}
    job = graphql(PARTITION_KEYS, {"selector": selector})["pipelineOrError"]
    if job["__typename"] != "Pipeline":
        raise AirflowFailException(f"Dagster has no job {DAGSTER_JOB} to ask for its partitions: "
                                   f"{job['__typename']}: {job.get('message')}")
    return session.isoformat() in job["partitionKeysOrError"]["partitionKeys"]


def failure_messages(run_id: str) -> list[str]:
    """What Dagster says went wrong: each failed step with its error, then the run's own failure message."""
    messages, cursor = [], None
    while True:
        logs = graphql(RUN_FAILURES, {"runId": run_id, "cursor": cursor})["logsForRun"]
        if logs["__typename"] != "EventConnection":
            return messages + [f"cannot read the run's events: {logs.get('message')}"]
        for event in logs["events"]:
            if event["__typename"] == "ExecutionStepFailureEvent":
                # Dagster wraps the asset's exception ("Error occurred while executing op …"): its causes say why.
                error = event.get("error") or {}
                chain = [error.get("message", "")] + [cause["message"] for cause in error.get("causes") or []]
                messages.append(f"step {event['stepKey']} failed: " + " <- ".join(m.strip() for m in chain if m))
            elif event["__typename"] in ("RunFailureEvent", "RunCanceledEvent"):
                messages.append(event["message"])
        if not logs["hasMore"]:
            return [m.strip() for m in messages]
        cursor = logs["cursor"]


# --- the DAG ----------------------------------------------------------------------------------------------------

with DAG(
    dag_id=DAG_ID,
    description="At 21:30 UTC, run Dagster's daily_pipeline for the day's NYSE session (skip non-sessions)",
    schedule="30 21 * * *",  # UTC: Airflow's default time zone; the DAG pins the session in New York time itself
    # Far back: a task exists only for logical dates after its start_date, and a run without tasks "succeeds".
    start_date=dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,  # missed evenings are backfilled from the CLI (`trendfolio backfill`), not by Airflow
    max_active_runs=1,
    default_args={"retries": 0},
    tags=["trendfolio", "dagster"],
) as dag:

    @task.short_circuit
    def nyse_session() -> str | bool:
        """The session's date (ISO) when the day is an NYSE session; False skips the launch and the wait."""
        context = get_current_context()
        dag_run = context["dag_run"]
        session = session_of_run(dag_run.conf or {}, context.get("logical_date"), dag_run.run_after)
        if not is_partition(session):
            print(f"{session} is not an NYSE session (Dagster's {DAGSTER_JOB} has no such partition): skipping, "
                  "no Dagster run")
            return False
        print(f"session {session}: launching Dagster job {DAGSTER_JOB}")
        return session.isoformat()

    @task
    def launch_dagster_run(session: str) -> str:
        context = get_current_context()
        tags = {"dagster/partition": session, "airflow/dag_id": DAG_ID, "airflow/run_id": context["run_id"]}
        existing = runs_tagged(tags)
        reusable = [run for run in existing if run["status"] in REUSABLE]
        if reusable:
            run_id = reusable[0]["runId"]
            print(f"Dagster run {run_id} ({reusable[0]['status']}) was already launched by this Airflow run for "
                  f"{session}: following it instead of launching another ({dagster_url()}/runs/{run_id})")
            return run_id
        location = Variable.get("dagster_location", default="trendfolio")
        result = graphql(LAUNCH_RUN, {"executionParams": {
            "selector": {"repositoryLocationName": location, "repositoryName": DAGSTER_REPOSITORY,
                         "jobName": DAGSTER_JOB},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]},
        }})["launchRun"]
        if result["__typename"] != "LaunchRunSuccess":
            details = result.get("message") or [e["message"] for e in result.get("errors", [])]
            raise AirflowFailException(f"Dagster refused to launch {DAGSTER_JOB} for {session}: "
                                       f"{result['__typename']}: {details}")
        run_id = result["run"]["runId"]
        print(f"Dagster run {run_id} launched: {dagster_url()}/runs/{run_id}")
        return run_id

    # A plain task that polls, not a reschedule-mode sensor: Airflow 3.2-3.3 fails such a sensor when the executor's
    # report of one poke arrives after the next poke is queued (apache/airflow#71172), which a loaded machine hits on
    # most pokes. It holds one worker slot while the Dagster run lasts.
    @task(execution_timeout=dt.timedelta(hours=4))
    def wait_for_dagster_run(dagster_run_id: str) -> str:  # not `run_id`: TaskFlow reserves it for Airflow's own
        poll_s = float(Variable.get("dagster_poll_seconds", default="15"))
        status = None
        while status not in FINISHED:
            time.sleep(poll_s)
            run = graphql(RUN_STATUS, {"runId": dagster_run_id})["runOrError"]
            if run["__typename"] != "Run":
                raise AirflowFailException(f"Dagster run {dagster_run_id}: {run['__typename']}: {run.get('message')}")
            if run["status"] != status:
                status = run["status"]
                print(f"Dagster run {dagster_run_id}: {status}")
        if status != "SUCCESS":
            reasons = "; ".join(failure_messages(dagster_run_id)) or "no failure event recorded"
            raise AirflowFailException(f"Dagster run {dagster_run_id} ended {status}: {reasons} "
                                       f"({dagster_url()}/runs/{dagster_run_id})")
        return status

    wait_for_dagster_run(launch_dagster_run(nyse_session()))
