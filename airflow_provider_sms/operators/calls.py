"""Voice-call operators: flash call, pin-to-speech, text-to-speech, incoming-call verification.

Every operator that places a call (or reserves a number) goes through the send journal
(:mod:`airflow_provider_sms.sending.journal`): a retry or re-run of the same task instance does not
call the person again, and a call whose outcome is unknown is never placed again
automatically.

Their rendered fields show the number masked (unless the connection's ``log_full_numbers``) and
one-time codes as ``***`` (see :mod:`airflow_provider_sms.privacy`); their XCom holds no
person's number and, by default, no code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api.endpoints import ApiRequest
from airflow_provider_sms.api.numbers import mask_number, normalize_number
from airflow_provider_sms.api.results import CallResult, FlashCallResult, IncomingCallReservation
from airflow_provider_sms.api.timestamps import parse_iso
from airflow_provider_sms.compat import AirflowFailException
from airflow_provider_sms.exceptions import SmsApiError
from airflow_provider_sms.failures import fails_fast
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.privacy import PrivateRenderingMixin, mask_caller_id, mask_secret
from airflow_provider_sms.sending.callbacks import resolve_callback_url_or_fail
from airflow_provider_sms.sending.journal import Contact, JournalEntry, Outcome, SendJournal, Sent
from airflow_provider_sms.summaries import USAGE_SUMMARIES, add_summary_outlet, publish_summary, usage_summary

if TYPE_CHECKING:
    from airflow.sdk import Context

# A reservation this close to expiry is not handed out again: the user could not call in time.
RESERVATION_MARGIN = timedelta(seconds=10)


class _JournalledCallOperator(PrivateRenderingMixin, BaseOperator):
    """Shared flow: validate locally, consult the journal, place the call once, return its result.

    :param xcom_full_numbers: keep full numbers (a flash call's caller id) in the XCom.
    """

    kind: ClassVar[str]
    resend_unknown: ClassVar[bool] = False
    ui_color = "#e4e0f5"
    number_fields = ("number",)

    def __init__(
        self,
        *,
        number: str,
        callback_url: str | None = None,
        journal_path: str | None = None,
        xcom_full_numbers: bool = False,
        sms_api_conn_id: str = SmsApiHook.default_conn_name,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.number = number
        self.xcom_full_numbers = xcom_full_numbers
        self.callback_url = callback_url
        self.journal_path = journal_path
        self.sms_api_conn_id = sms_api_conn_id
        add_summary_outlet(self, USAGE_SUMMARIES)

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    def build_request(self, number: str, callback_url: str | None) -> ApiRequest[Sent]:
        """The request (validated by the api layer): languages, codes, texts are checked here."""
        raise NotImplementedError

    def content(self) -> dict[str, Any]:
        """What reaches the person: part of the journal key."""
        raise NotImplementedError

    def still_valid(self, entry: JournalEntry) -> bool:
        return True

    def for_xcom(self, result: dict[str, Any]) -> dict[str, Any]:
        """The result as the XCom holds it (a subclass hides what must not be shown)."""
        return result

    @fails_fast(lambda op: f"The {op.kind.replace('_', ' ')}")
    def execute(self, context: Context) -> dict[str, Any]:
        callback_url = resolve_callback_url_or_fail(self.callback_url)  # never stored: it may hold a secret
        try:
            number = normalize_number(self.rendered("number"))
            request = self.build_request(number, callback_url)  # fails before any request or journal write
        except SmsApiError as exc:
            raise AirflowFailException(f"Cannot place this {self.kind}: {exc}") from exc
        masked = mask_number(number, reveal=self.hook.settings.log_full_numbers)
        journal = SendJournal.for_task(context, self.journal_path, log=self.log)
        self.log.info("%s to %s (send journal: %s)", self.kind, masked, journal.folder)
        result = journal.send_once(
            Contact(number, self.kind, self.content(), masked),
            lambda: self.hook.run(request),
            still_valid=self.still_valid,
            resend_unknown=self.resend_unknown,
        )
        if result.outcome is Outcome.UNKNOWN:
            # A retry could not help: the journal would stop it again. Fail without retrying.
            raise AirflowFailException(result.error)
        if result.outcome is Outcome.FAILED:
            if isinstance(result.exception, BaseException):
                raise result.exception
            raise AirflowFailException(result.error)
        self.log.info("%s to %s: request id %s", self.kind, masked, result.request_id)
        publish_summary(context, USAGE_SUMMARIES, usage_summary("calls", int(result.outcome is Outcome.SENT)))
        return self.for_xcom(dict(result.result or {"request_id": result.request_id}))


class FlashCallOperator(_JournalledCallOperator):
    """Place a flash call (a missed call whose caller id carries the code).

    Returns (XCom) ``{"request_id": ..., "from_number": ...}``: ``from_number`` is the caller
    id the user sees; its last 4-6 digits are the code, so the XCom shows it without its last 6
    digits unless ``xcom_full_numbers`` (for an app that lets the API pick the code and needs it
    downstream). The code is hidden in the rendered fields and masked in the task log.

    :param number: the number to call (E.164). Templated.
    :param sender: caller id to call from (must be validated for the account). Templated.
    :param code: the last 4-6 digits of a generated caller id (a one-time code). Templated.
    :param callback_url: where call-status receipts go; ``"airflow"`` means this deployment's
        webhook. Templated.
    :param journal_path: root of the send journal (see :class:`SendSmsOperator`). Templated.
    :param xcom_full_numbers: keep the full caller id (and so the code) in the XCom.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    kind = "flash_call"
    secret_fields = ("code",)
    template_fields: Sequence[str] = (
        "number",
        "sender",
        "code",
        "callback_url",
        "journal_path",
        "sms_api_conn_id",
    )

    def __init__(self, *, number: str, sender: str | None = None, code: str | None = None, **kwargs: Any):
        super().__init__(number=number, **kwargs)
        self.sender = sender
        self.code = code

    def build_request(self, number: str, callback_url: str | None) -> ApiRequest[FlashCallResult]:
        return endpoints.flash_call(number, self.sender, _code(self.rendered("code")), callback_url)

    def content(self) -> dict[str, Any]:
        return {"code": _code(self.rendered("code"))}

    def for_xcom(self, result: dict[str, Any]) -> dict[str, Any]:
        caller_id = result.get("from_number")
        mask_secret(caller_id)  # it ends with the code: masked wherever the task log shows it
        if not self.xcom_full_numbers:
            result["from_number"] = mask_caller_id(caller_id)
        return result


class _SpokenCallOperator(_JournalledCallOperator):
    """A call that speaks to the person: in a voice ``language``, from a caller id ``sender``.

    :param language: voice language; checked before any request. Templated.
    :param sender: caller id to call from (must be validated for the account). Templated.
    """

    def __init__(self, *, number: str, language: str | None = None, sender: str | None = None, **kwargs: Any):
        super().__init__(number=number, **kwargs)
        self.language = language
        self.sender = sender


# What every spoken call renders, after the number and what it says.
_SPOKEN_CALL_FIELDS = ("language", "sender", "callback_url", "journal_path", "sms_api_conn_id")


class PinToSpeechCallOperator(_SpokenCallOperator):
    """Call a number and speak a 4-6 digit pin code.

    Returns (XCom) ``{"request_id": ...}``.

    :param number: the number to call (E.164). Templated.
    :param code: the pin, 4 to 6 digits (a one-time code: hidden in the rendered fields, masked
        in the task log). Templated.
    :param language: voice language (``en`` by default; the reference's list, e.g. ``de``,
        ``fr``, ``ru``...); checked before any request. Templated.
    :param sender: caller id to call from (must be validated for the account). Templated.
    :param callback_url: where call-status receipts go (``"airflow"``: this deployment). Templated.
    :param journal_path: root of the send journal. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    kind = "pin_to_speech_call"
    template_fields: Sequence[str] = ("number", "code", *_SPOKEN_CALL_FIELDS)
    secret_fields = ("code",)

    def __init__(self, *, number: str, code: str, **kwargs: Any) -> None:
        super().__init__(number=number, **kwargs)
        self.code = code

    def build_request(self, number: str, callback_url: str | None) -> ApiRequest[CallResult]:
        code: Any = _code(self.rendered("code"))  # None is refused by the builder, as any other bad code
        return endpoints.pin_to_speech_call(number, code, self.sender, self.language or None, callback_url)

    def content(self) -> dict[str, Any]:
        return {"code": _code(self.rendered("code"))}


class TextToSpeechCallOperator(_SpokenCallOperator):
    """Call a number and speak a text.

    Returns (XCom) ``{"request_id": ...}``.

    :param number: the number to call (E.164). Templated.
    :param text: what to say. Templated; keep it the same across retries (journal key).
    :param text_is_secret: the text carries a one-time code (the default: spoken texts are how
        voice codes are delivered; alerting calls go through ``VoiceCallNotifier``): hide it in
        the rendered fields and mask it in the task log. ``False`` shows it.
    :param language: ``en`` (default) or ``ru``; checked before any request. Templated.
    :param sender: caller id to call from (must be validated for the account). Templated.
    :param callback_url: where call-status receipts go (``"airflow"``: this deployment). Templated.
    :param journal_path: root of the send journal. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    kind = "text_to_speech_call"
    template_fields: Sequence[str] = ("number", "text", *_SPOKEN_CALL_FIELDS)

    def __init__(self, *, number: str, text: str, text_is_secret: bool = True, **kwargs: Any) -> None:
        super().__init__(number=number, **kwargs)
        self.text = text
        self.text_is_secret = text_is_secret

    def secret_field_names(self) -> tuple[str, ...]:
        return ("text",) if self.text_is_secret else ()

    def build_request(self, number: str, callback_url: str | None) -> ApiRequest[CallResult]:
        language = self.language or None
        return endpoints.text_to_speech_call(
            number, self.rendered("text"), self.sender, language, callback_url
        )

    def content(self) -> dict[str, Any]:
        return {"text": self.rendered("text")}


class IncomingCallVerificationOperator(_JournalledCallOperator):
    """Reserve a number (DID) the user must call from ``number`` to prove they own it.

    Returns (XCom) ``{"request_id": ..., "did_number": ..., "expires_at": "<ISO-8601>"}``.
    Show ``did_number`` to the user, then wait with
    :class:`~airflow_provider_sms.sensors.incoming_call.IncomingCallSensor` on ``request_id``.
    A retry or re-run returns the same reservation while it is still valid, and reserves a
    new one only once it has expired (or its outcome is unknown: a reservation calls nobody).

    :param number: the user's number (E.164). Templated.
    :param callback_url: where the API reports the call (``"airflow"``: this deployment). Templated.
    :param ivr_confirmation: ask the user to key in a one-digit confirmation code.
    :param ivr_message: the message played to the user. Templated.
    :param journal_path: root of the send journal. Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    kind = "incoming_call"
    resend_unknown = True
    template_fields: Sequence[str] = (
        "number",
        "callback_url",
        "ivr_message",
        "journal_path",
        "sms_api_conn_id",
    )

    def __init__(
        self,
        *,
        number: str,
        ivr_confirmation: bool | None = None,
        ivr_message: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(number=number, **kwargs)
        self.ivr_confirmation = ivr_confirmation
        self.ivr_message = ivr_message

    def build_request(self, number: str, callback_url: str | None) -> ApiRequest[IncomingCallReservation]:
        return endpoints.reserve_incoming_call(
            number,
            callback_url,
            self.ivr_confirmation,
            self.ivr_message,
        )

    def content(self) -> dict[str, Any]:
        return {"ivr_confirmation": self.ivr_confirmation, "ivr_message": self.ivr_message}

    def still_valid(self, entry: JournalEntry) -> bool:
        expires_at = (entry.result or {}).get("expires_at")
        if not expires_at:
            return False
        try:
            deadline = parse_iso(str(expires_at))
        except ValueError:
            return False
        valid = deadline - RESERVATION_MARGIN > datetime.now(timezone.utc)
        if not valid:
            self.log.info("The earlier reservation expired at %s: reserving a new number", expires_at)
        return valid


class NotifyVerifiedOperator(BaseOperator):
    """Tell the API a user is verified (goal ``NUMBER_VERIFIED``); ends a running flash call.

    Returns (XCom) ``{"request_id": ...}``. Repeating it is harmless, so it is not journalled.

    :param request_id: the verification request (flash call, pin-to-speech, incoming call). Templated.
    :param sms_api_conn_id: the Airflow connection of type ``sms_api``.
    """

    template_fields: Sequence[str] = ("request_id", "sms_api_conn_id")
    ui_color = "#e4e0f5"

    def __init__(
        self, *, request_id: str, sms_api_conn_id: str = SmsApiHook.default_conn_name, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.request_id = request_id
        self.sms_api_conn_id = sms_api_conn_id

    @cached_property
    def hook(self) -> SmsApiHook:
        return SmsApiHook(sms_api_conn_id=self.sms_api_conn_id)

    @fails_fast("Notifying the verification")
    def execute(self, context: Context) -> dict[str, Any]:
        result = self.hook.notify_verified(str(self.request_id))
        self.log.info("Request %s marked as verified", self.request_id)
        data = result.to_dict()
        data["request_id"] = data.get("request_id") or str(self.request_id)
        return data


def _code(value: object) -> str | None:
    """Codes come from templates as strings or from Python as ints; the builders take both."""
    if value is None or value == "":
        return None
    return str(value).strip()


__all__ = [
    "FlashCallOperator",
    "IncomingCallVerificationOperator",
    "NotifyVerifiedOperator",
    "PinToSpeechCallOperator",
    "TextToSpeechCallOperator",
]
