"""One APIRouter per resource: sessions (ranking, portfolios, history), tickers (holdings, prices, weights),
performance (scored portfolios, turnover, track record), status, and the dashboard page."""
