"""Operators of the SMS & Voice API provider.

- :mod:`~airflow_provider_sms.operators.sms`: ``SendSmsOperator``
- :mod:`~airflow_provider_sms.operators.calls`: ``FlashCallOperator``, ``PinToSpeechCallOperator``,
  ``TextToSpeechCallOperator``, ``IncomingCallVerificationOperator``, ``NotifyVerifiedOperator``
- :mod:`~airflow_provider_sms.operators.insight`: ``HlrLookupOperator``, ``FraudCheckOperator``
- :mod:`~airflow_provider_sms.operators.hygiene`: ``NumberHygieneOperator`` (whole lists)
"""
