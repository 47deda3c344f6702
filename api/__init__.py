"""The read-only HTTP API and dashboard over the warehouse tables (FastAPI)."""
