"""Sensors of the SMS & Voice API provider."""
