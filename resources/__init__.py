from resources.kafka import KafkaResource
from resources.market_data import MarketDataResource
from resources.postgres import PostgresResource
from resources.spark import SparkResource

__all__ = ["KafkaResource", "MarketDataResource", "PostgresResource", "SparkResource"]
