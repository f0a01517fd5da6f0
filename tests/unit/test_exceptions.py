"""The error tree: attributes, messages, pickling (errors cross process boundaries in Airflow)."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_sms import exceptions as e
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.hooks.retrying import ConnectionNotMadeError

ALL = [
    e.SmsApiError,
    e.AuthenticationError,
    e.AccountError,
    e.RateLimitError,
    e.InvalidRequestError,
    e.InvalidNumberError,
    e.SenderNotAllowedError,
    e.NotFoundError,
    e.ServerError,
    e.SmsApiConnectionError,
    e.DeliveryUnknownError,
    e.TlsVerificationError,
    e.SmsApiConfigError,
    ConnectionNotMadeError,
]


@pytest.mark.parametrize("cls", ALL)
def test_every_error_is_an_airflow_exception_and_pickles_with_its_attributes(
    cls: type[e.SmsApiError],
) -> None:
    error = cls("what happened; what to do", error_code=11, error_reason="Invalid number", http_status=400)
    assert isinstance(error, AirflowException)
    assert isinstance(error, e.SmsApiError)
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert type(clone) is cls
    assert (clone.error_code, clone.error_reason, clone.http_status) == (11, "Invalid number", 400)
    assert str(clone) == "what happened; what to do"


def test_defaults_are_none() -> None:
    error = e.ServerError("boom")
    assert (error.error_code, error.error_reason, error.http_status) == (None, None, None)
    assert pickle.loads(pickle.dumps(error)).http_status is None  # noqa: S301


def test_no_usable_answer_is_kept_apart_from_the_api_saying_no() -> None:
    assert issubclass(e.DeliveryUnknownError, e.SmsApiConnectionError)
    assert issubclass(e.TlsVerificationError, e.SmsApiConnectionError)
    assert issubclass(ConnectionNotMadeError, e.SmsApiConnectionError)
    for refusal in (e.AuthenticationError, e.RateLimitError, e.NotFoundError, e.ServerError):
        assert not issubclass(refusal, e.SmsApiConnectionError)
