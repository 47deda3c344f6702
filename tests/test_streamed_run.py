"""A backfill runs through the instance event by event (trendfolio.backfill.execute_streaming): the run and every event
are recorded in the instance, only the failures stay in memory, and a failure is told in one line."""

import uuid

from dagster import DagsterEventType, DagsterInstance, Failure, job, op

from trendfolio.backfill import execute_streaming
from trendfolio.failures import run_failure


@op
def fine() -> int:
    return 1


@op
def broken(value: int) -> None:
    raise Failure(f"the source answered nothing ({value})")


@job
def healthy():
    fine()


@job
def failing():
    broken(fine())


def test_a_successful_run_is_recorded_whole_and_keeps_no_event():
    with DagsterInstance.ephemeral() as instance:
        run_id = str(uuid.uuid4())
        result = execute_streaming(healthy, instance, run_id, {"trendfolio/test": "yes"})
        assert result.success and result.failures == [] and result.run_id == run_id
        assert instance.get_run_by_id(run_id).tags["trendfolio/test"] == "yes"
        recorded = {record.event_log_entry.dagster_event.event_type
                    for record in instance.get_records_for_run(run_id).records if record.event_log_entry.dagster_event}
        assert {DagsterEventType.STEP_SUCCESS, DagsterEventType.RUN_SUCCESS} <= recorded


def test_a_failed_run_keeps_its_failures_and_says_why_in_one_line():
    with DagsterInstance.ephemeral() as instance:
        result = execute_streaming(failing, instance, str(uuid.uuid4()), {})
        assert not result.success
        assert [event.event_type_value for event in result.failures][0] == "STEP_FAILURE"
        why = run_failure(result.failures)
        assert why.startswith("broken: ") and "the source answered nothing (1)" in why and "\n" not in why
