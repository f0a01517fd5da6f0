"""Airflow plugins shipped by the provider: the webhook receiver mounted in the API server."""
