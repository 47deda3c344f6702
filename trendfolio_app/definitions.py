"""The Dagster code location: assets, the job and the resources, each configured from the environment as it is.
Importing it writes nothing: a setting it cannot run without and that is unset fails the load in one line naming it.
On a laptop, `trendfolio_app.local` (workspace.yaml, `dagster dev`) fills the embedded stack's defaults in first."""

import os

from dagster import Definitions, EnvVar

from assets import ALL_ASSETS
from jobs import daily_pipeline, daily_pipeline_at_2130_utc
from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource
from trendfolio import settings
from trendfolio.universe import BENCHMARK_ETFS_VARIABLE, HOLDINGS_PER_ETF_VARIABLE, SECTOR_ETFS_VARIABLE, Universe

settings.require()
Universe.from_environment()  # a wrong ETF list or holdings count fails the load in one line naming it


def optional(name: str, default: str):
    """The variable when set (shown as such in the Dagster UI), else the resource's default."""
    return EnvVar(name) if name in os.environ else default


defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_pipeline],
    schedules=[daily_pipeline_at_2130_utc],
    resources={
        "postgres": PostgresResource(database_url=EnvVar("DATABASE_URL")),
        "kafka": KafkaResource(
            bootstrap_servers=EnvVar("KAFKA_BOOTSTRAP_SERVERS"),
            namespace=optional("KAFKA_NAMESPACE", KafkaResource.model_fields["namespace"].default)),
        "spark": SparkResource(
            master_url=optional("SPARK_MASTER_URL", SparkResource.model_fields["master_url"].default),
            remote=settings.spark_remote()),
        "market_data": MarketDataResource(
            source=EnvVar("TRENDFOLIO_SOURCE"), replay_dir=optional("TRENDFOLIO_REPLAY_DIR", ""),
            yahoo_base_url=optional("TRENDFOLIO_YAHOO_BASE_URL", ""),
            benchmark_etfs=optional(BENCHMARK_ETFS_VARIABLE, MarketDataResource.model_fields["benchmark_etfs"].default),
            sector_etfs=optional(SECTOR_ETFS_VARIABLE, MarketDataResource.model_fields["sector_etfs"].default),
            holdings_per_etf=EnvVar.int(HOLDINGS_PER_ETF_VARIABLE) if os.environ.get(HOLDINGS_PER_ETF_VARIABLE)
            else MarketDataResource.model_fields["holdings_per_etf"].default),
    },
)
