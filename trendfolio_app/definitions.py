"""The Dagster code location: assets, the job and the resources, each configured from the environment."""

from dagster import Definitions, EnvVar

from assets import ALL_ASSETS
from jobs import daily_pipeline, daily_pipeline_at_2130_utc
from resources import KafkaResource, MarketDataResource, PostgresResource, SparkResource
from trendfolio import settings

# Unset settings point at the embedded stack, so `dagster dev -w workspace.yaml` works on a laptop as it is.
settings.apply_local_defaults()

defs = Definitions(
    assets=ALL_ASSETS,
    jobs=[daily_pipeline],
    schedules=[daily_pipeline_at_2130_utc],
    resources={
        "postgres": PostgresResource(database_url=EnvVar("DATABASE_URL")),
        "kafka": KafkaResource(
            bootstrap_servers=EnvVar("KAFKA_BOOTSTRAP_SERVERS"), namespace=EnvVar("KAFKA_NAMESPACE")
        ),
        "spark": SparkResource(master_url=EnvVar("SPARK_MASTER_URL")),
        "market_data": MarketDataResource(
            source=EnvVar("TRENDFOLIO_SOURCE"), replay_dir=EnvVar("TRENDFOLIO_REPLAY_DIR"),
            yahoo_base_url=EnvVar("TRENDFOLIO_YAHOO_BASE_URL")),
    },
)
