"""Airflow 3 DAG that triggers the Dagster job: see daily_pipeline_controller.py."""
