"""Entry points: the `trendfolio` command and the Dagster code location. They sit above every other layer."""
