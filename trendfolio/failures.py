"""One line that names why a run or a command failed, instead of the tracebacks of every layer it went through.

A failed step's error is a chain (Dagster's step error → the asset's → psycopg's or Spark's); the deepest link says
what happened, and a few causes an operator meets (a full disk, a stopped server) get a plain sentence.
"""

from __future__ import annotations

import traceback
from pathlib import Path

# (error classes, what in a message marks it, what to tell the operator): a link of the chain matches when its class is
# one of the classes, or when no classes are given and its message holds a mark; the first rule that matches wins.
POSTGRES_GONE = ("refused", "server closed the connection", "terminating connection", "connection is closed",
                 "the connection is lost", "consuming input failed", "connection to server", "connection attempt failed",
                 "This connection has been closed")
KNOWN_CAUSES = (
    ((), ("DiskFull", "No space left on device"), "PostgreSQL is out of disk space"),
    (("OperationalError", "AdminShutdown", "InterfaceError", "PSQLException"), POSTGRES_GONE,
     "PostgreSQL went away during the run (was the stack stopped? see `trendfolio stack status`)"),
    (("KafkaConnectionError", "BrokerUnavailable", "NodeNotReadyError"), (),
     "the Kafka broker went away during the run (was the stack stopped? see `trendfolio stack status`)"),
)


def first_line(text: str, limit: int = 240) -> str:
    """The message's first line, or for a Java error relayed by Py4J the line of the Java exception."""
    lines = [part.strip() for part in str(text).splitlines() if part.strip()]
    java = [line.lstrip(": ") for line in lines if "Exception: " in line]
    line = (java or lines or [""])[0]
    return line if len(line) <= limit else line[: limit - 1] + "…"


def explain(kinds_and_messages: list[tuple[str, str]]) -> str:
    """`kinds_and_messages`: (class name, message) of every link of an error chain, outermost first."""
    for classes, marks, sentence in KNOWN_CAUSES:
        for kind, message in kinds_and_messages:
            # Spark reports a JDBC failure as Py4JJavaError, with the Java class inside the message.
            of_class = not classes or kind in classes or any(f"{name}:" in message for name in classes)
            if of_class and (not marks or any(mark in kind or mark in message for mark in marks)):
                return f"{sentence}: {first_line(message) or kind}"
    kind, message = kinds_and_messages[-1]
    return f"{kind}: {first_line(message)}" if message else kind


def exception_chain(error: BaseException) -> list[tuple[str, str]]:
    chain, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        chain.append((type(error).__name__, str(error)))
        error = error.__cause__ or error.__context__
    return chain


def error_info_chain(info) -> list[tuple[str, str]]:
    """The same for Dagster's SerializableErrorInfo (what a step failure event carries)."""
    chain = []
    while info is not None:
        head, _, rest = info.message.partition(": ")
        message = rest if info.cls_name and head.endswith(info.cls_name) else info.message  # "module.Class: text"
        chain.append((info.cls_name or "", message))
        info = info.cause or info.context
    return chain


def explain_exception(error: BaseException) -> str:
    return explain(exception_chain(error))


# The events that say why a run failed, in the order run_failure looks for a cause.
FAILURE_EVENT_TYPES = ("STEP_FAILURE", "RESOURCE_INIT_FAILURE", "RUN_FAILURE")
CHECK_EVALUATION = "ASSET_CHECK_EVALUATION"
# Dagster's error when a blocking check failed at ERROR severity: its message names only the checks, so the line is
# made from the failed evaluations themselves (what each found).
BLOCKING_CHECK_FAILED = "DagsterAssetCheckFailedError"
SHOWN_NAMES = 5  # items of a list named before "and N more"


def names(items) -> str:
    items = [str(item) for item in items]
    more = f" and {len(items) - SHOWN_NAMES} more" if len(items) > SHOWN_NAMES else ""
    return ", ".join(items[:SHOWN_NAMES]) + more


def describe_check(evaluation) -> str:
    """A failed check evaluation in words: `check every_ticker_has_a_row failed (ERROR): tickers_without_rows: XLC`."""
    details = {key: getattr(value, "value", value) for key, value in evaluation.metadata.items()}
    shown = "; ".join(f"{key}: {names(value) if isinstance(value, list) else value}"
                      for key, value in details.items() if value not in ([], None, "", {}))
    return f"check {evaluation.check_name} failed ({evaluation.severity.value})" + (f": {shown}" if shown else "")


def is_failed_error_check(event) -> bool:
    if event.event_type_value != CHECK_EVALUATION:
        return False
    evaluation = event.event_specific_data
    return not evaluation.passed and evaluation.severity.value == "ERROR"


def is_failure_event(event) -> bool:
    """The events run_failure needs: failures, and the failed ERROR checks that may be their cause."""
    return event.event_type_value in FAILURE_EVENT_TYPES or is_failed_error_check(event)


def run_failure(events) -> str:
    """Why a run failed, from its events (an `execute_in_process` result's `all_events`, a streamed run's
    `failures`): the first failed step and its cause, in one line."""
    events = list(events)
    for event in events:
        if event.event_type_value in FAILURE_EVENT_TYPES:
            error = getattr(event.event_specific_data, "error", None)
            if error is None:
                continue
            where = f"{event.step_key}: " if event.step_key else ""
            if error.cls_name == BLOCKING_CHECK_FAILED:
                failed = [describe_check(check.event_specific_data) for check in events
                          if is_failed_error_check(check) and check.step_key == event.step_key]
                if failed:
                    return where + "; ".join(failed)
            return where + explain(error_info_chain(error))
    return "see the run's event log in the Dagster UI"


def save_traceback(error: BaseException, folder: Path) -> Path | None:
    """The full traceback for whoever needs more than the line; None when nowhere can be written."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "last-error.txt"
        path.write_text("".join(traceback.format_exception(error)))
        return path
    except OSError:
        return None
