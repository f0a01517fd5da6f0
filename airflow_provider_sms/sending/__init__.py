"""Sending: reaching people by SMS or call at most once, whatever Airflow retries or re-runs.

- :mod:`~airflow_provider_sms.sending.recipients`: numbers from values and files, normalised
  to E.164, each person once (the provider's one normaliser).
- :mod:`~airflow_provider_sms.sending.journal` (records in :mod:`~.sending.entries`): the send
  journal, which makes every send of a task instance happen at most once.
- :mod:`~airflow_provider_sms.sending.sms`: one text to a list, concurrently, through the journal.
- :mod:`~airflow_provider_sms.sending.report`: the per-number report of a list send and its XCom.
- :mod:`~airflow_provider_sms.sending.suppression`: the opt-out (suppression) list.
- :mod:`~airflow_provider_sms.sending.callbacks`: this deployment's webhook URLs (``callback_url="airflow"``).

The operators (:mod:`airflow_provider_sms.operators`) and notifiers only orchestrate these.
"""
