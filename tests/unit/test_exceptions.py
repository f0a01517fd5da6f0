"""The error tree: attributes, messages, pickling (errors cross process boundaries in Airflow)."""

from __future__ import annotations

import pickle

import pytest

from airflow_provider_sms import exceptions as e
from airflow_provider_sms.compat import AirflowException
from airflow_provider_sms.exceptions import ConnectionNotMadeError, ErrorClass, classify

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


PROVIDER_ERRORS = [
    e.JournalError,
    e.JournalClaimedError,
    e.HygieneInputError,
    e.HygieneAccountingError,
    e.CampaignInputError,
    e.OutputNotWritableError,
    e.OutputClaimedError,
    e.EventNotStoredError,
]


@pytest.mark.parametrize("cls", PROVIDER_ERRORS)
def test_the_providers_own_errors_are_in_the_tree_and_pickle(cls: type[e.SmsProviderError]) -> None:
    error = cls("what happened")
    assert isinstance(error, AirflowException)
    assert isinstance(error, e.SmsProviderError)
    assert not isinstance(error, e.SmsApiError)  # no API answer involved
    clone = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert (type(clone), str(clone)) == (cls, "what happened")


def test_old_import_locations_still_work() -> None:
    from airflow_provider_sms.hooks import retrying
    from airflow_provider_sms.hygiene import reader
    from airflow_provider_sms.plugins import store

    assert retrying.ConnectionNotMadeError is e.ConnectionNotMadeError
    assert reader.HygieneInputError is e.HygieneInputError
    assert store.EventNotStoredError is e.EventNotStoredError


CLASSES = {
    e.AuthenticationError: ErrorClass.FATAL,
    e.AccountError: ErrorClass.FATAL,
    e.SmsApiConfigError: ErrorClass.FATAL,
    e.TlsVerificationError: ErrorClass.FATAL,
    e.HygieneInputError: ErrorClass.FATAL,
    e.HygieneAccountingError: ErrorClass.FATAL,
    e.CampaignInputError: ErrorClass.FATAL,
    e.OutputNotWritableError: ErrorClass.FATAL,
    e.JournalError: ErrorClass.FATAL,
    e.InvalidNumberError: ErrorClass.PER_ITEM,
    e.SenderNotAllowedError: ErrorClass.PER_ITEM,
    e.InvalidRequestError: ErrorClass.PER_ITEM,
    e.NotFoundError: ErrorClass.PER_ITEM,
    e.DeliveryUnknownError: ErrorClass.PER_ITEM,
    e.JournalClaimedError: ErrorClass.PER_ITEM,
    e.SmsApiError: ErrorClass.PER_ITEM,
    e.RateLimitError: ErrorClass.TRANSIENT,
    e.ServerError: ErrorClass.TRANSIENT,
    e.SmsApiConnectionError: ErrorClass.TRANSIENT,
    ConnectionNotMadeError: ErrorClass.TRANSIENT,
    e.EventNotStoredError: ErrorClass.TRANSIENT,
    e.OutputClaimedError: ErrorClass.TRANSIENT,  # the other run ends; a retry proceeds
}


@pytest.mark.parametrize(("cls", "expected"), CLASSES.items(), ids=lambda x: getattr(x, "__name__", x))
def test_classify(cls: type[Exception], expected: ErrorClass) -> None:
    assert classify(cls("x")) is expected


def test_every_error_of_the_tree_is_classified() -> None:
    def tree(cls: type[Exception]) -> list[type[Exception]]:
        return [cls, *(c for sub in cls.__subclasses__() for c in tree(sub))]

    for root in (e.SmsApiError, e.SmsProviderError):
        for cls in tree(root):
            if cls.__module__ == e.__name__ and cls is not e.SmsProviderError:
                assert cls in CLASSES, f"{cls.__name__} has no expected class in this test"


def test_a_subclass_is_classified_by_its_most_specific_known_class() -> None:
    # The ordering trap: TLS and "delivery unknown" are connection errors, which are transient.
    class CustomTls(e.TlsVerificationError):
        pass

    class Timeout(e.SmsApiConnectionError):
        pass

    assert classify(CustomTls("x")) is ErrorClass.FATAL
    assert classify(Timeout("x")) is ErrorClass.TRANSIENT
    assert issubclass(e.TlsVerificationError, e.SmsApiConnectionError)


@pytest.mark.parametrize("exc", [ValueError("bug"), KeyboardInterrupt(), AirflowException("other")])
def test_exceptions_the_provider_does_not_raise_are_left_to_the_caller(exc: BaseException) -> None:
    assert classify(exc) is None
