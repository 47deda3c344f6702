from assets.analytics_03_trending_etfs import analytics_03_trending_etfs
from assets.analytics_05_portfolio_allocation import analytics_05_portfolio_allocation
from assets.analytics_07_portfolio_performance import analytics_07_portfolio_performance
from assets.analytics_08_portfolio_baselines import analytics_08_portfolio_baselines
from assets.collected_01_daily_etf_ohlc import collected_01_daily_etf_ohlc
from assets.collected_04_etf_holdings import collected_04_etf_holdings
from assets.collected_06_daily_stock_history import collected_06_daily_stock_history

ALL_ASSETS = [
    collected_01_daily_etf_ohlc,
    analytics_03_trending_etfs,
    collected_04_etf_holdings,
    collected_06_daily_stock_history,
    analytics_05_portfolio_allocation,
    analytics_07_portfolio_performance,
    analytics_08_portfolio_baselines,
]
