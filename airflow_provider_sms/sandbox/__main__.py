"""``python -m airflow_provider_sms.sandbox``."""

from __future__ import annotations

from .cli import main

if __name__ == "__main__":
    raise SystemExit(main())
