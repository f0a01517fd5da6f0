"""Apache Airflow provider for the SMS & Voice API: SMS, voice calls and number insight."""

from __future__ import annotations

__version__ = "0.1.0"
