from jobs.daily_pipeline import daily_pipeline, daily_pipeline_at_2130_utc

__all__ = ["daily_pipeline", "daily_pipeline_at_2130_utc"]
