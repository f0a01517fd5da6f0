"""Triggers of the SMS & Voice API provider (run in Airflow's triggerer)."""
