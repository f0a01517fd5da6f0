"""A faithful local HTTPS twin of the SMS API, for the demo and end-to-end tests.

See docs/sandbox.md. ``Sandbox`` runs it in-process; ``python -m
airflow_provider_sms.sandbox`` (console script ``airflow-sms-sandbox``) runs it alone.
"""

from __future__ import annotations

from .accounts import DEMO_KEY, DEMO_SECRET
from .server import Sandbox

__all__ = ["DEMO_KEY", "DEMO_SECRET", "Sandbox"]
