from jobs.daily_pipeline import daily_pipeline

__all__ = ["daily_pipeline"]
