"""`daily_pipeline`: every table for one NYSE session (or, as a backfill, one range of sessions in a single run)."""

from dagster import AssetSelection, define_asset_job, in_process_executor

from assets.partitions import nyse_sessions

daily_pipeline = define_asset_job(
    name="daily_pipeline",
    selection=AssetSelection.groups("collection", "analytics"),
    partitions_def=nyse_sessions,
    # In process: both Spark assets share the run's one SparkSession instead of starting a JVM each.
    executor_def=in_process_executor,
)
