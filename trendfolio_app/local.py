"""The code location on a laptop (workspace.yaml, `dagster dev`): every unset setting points at the embedded stack
(`settings.apply_local_defaults`), then the production definitions load as they are."""

from trendfolio import settings

settings.apply_local_defaults()

from trendfolio_app.definitions import defs  # noqa: E402  (after the defaults, which it reads)

__all__ = ["defs"]
