"""A backfill runs through the instance event by event (trendfolio.backfill.execute_streaming): the run and every event
are recorded in the instance, only the failures (and failed ERROR checks) stay in memory, and a failure is told in one
line — a blocking check's failure by what the check found."""

import uuid

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterEventType,
    DagsterInstance,
    Definitions,
    Failure,
    MaterializeResult,
    asset,
    define_asset_job,
    job,
    op,
)

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


def checked_job(severity: AssetCheckSeverity):
    """`numbers` fails a blocking check at `severity`; `totals` is downstream of it."""

    @asset(check_specs=[AssetCheckSpec("no_negative_value", asset="numbers", blocking=True)])
    def numbers() -> MaterializeResult:
        return MaterializeResult(check_results=[AssetCheckResult(
            check_name="no_negative_value", passed=False, severity=severity,
            metadata={"negative": ["a", "b", "c", "d", "e", "f"], "checked": 9})])

    @asset(deps=[numbers])
    def totals() -> None:
        pass

    return Definitions(assets=[numbers, totals], jobs=[define_asset_job("checked")]).resolve_job_def("checked")


def test_a_failed_blocking_error_check_fails_the_run_naming_what_it_found():
    with DagsterInstance.ephemeral() as instance:
        result = execute_streaming(checked_job(AssetCheckSeverity.ERROR), instance, str(uuid.uuid4()), {})
        assert not result.success
        assert run_failure(result.failures) == ("numbers: check no_negative_value failed (ERROR): negative: a, b, c, "
                                                "d, e and 1 more; checked: 9")
        materialized = {record.event_log_entry.dagster_event.asset_key.to_user_string()
                        for record in instance.get_records_for_run(result.run_id).records
                        if record.event_log_entry.dagster_event
                        and record.event_log_entry.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION}
        assert materialized == {"numbers"}  # written, then the run stops: totals does not run on it


def test_a_failed_warn_check_is_reported_and_the_run_goes_on():
    with DagsterInstance.ephemeral() as instance:
        result = execute_streaming(checked_job(AssetCheckSeverity.WARN), instance, str(uuid.uuid4()), {})
        assert result.success and result.failures == []
