"""The /v1 endpoints of the reference, behind the gate (auth, rate limit, faults).

Each handler validates its fields, decides the outcome (``outcomes.py``) and returns
a ``Result``; ``_run`` turns it, or an ``ApiError``, into the JSON answer and the
ledger entry, and schedules callbacks only once the request succeeded.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from airflow_provider_sms.api import constants as c

from . import actions
from .accounts import Account
from .core import Core
from .forms import ApiError, Fields, parse_fields, read_body
from .outcomes import call_status, fraud_check, hlr, incoming_call_delay, sms_final_status
from .state import KnownRequest, Reservation

log = logging.getLogger(__name__)


@dataclass
class Result:
    body: dict[str, Any]
    outcome: Any
    request_id: str | None = None
    billable: bool | None = None  # None: the ledger's default for the product
    after: Callable[[], None] | None = None  # e.g. schedule callbacks


Handler = Callable[[Core, Account, Fields, dict[str, str]], Result]


def error_response(code: int, *, close: bool = False, reason: str | None = None) -> JSONResponse:
    status, default_reason = c.ERRORS.get(code, (code, "Not found"))
    headers = {"Connection": "close"} if close else None
    return JSONResponse({"errorCode": code, "errorReason": reason or default_reason}, status, headers=headers)


async def _run(request: Request, product: str, handler: Handler, *, has_body: bool = True) -> JSONResponse:
    core: Core = request.app.state.core
    account: Account = request.state.sandbox_account
    fault: str | None = getattr(request.state, "sandbox_fault", None)
    fields = Fields({})

    def record(
        status: int, outcome: Any, request_id: str | None = None, billable: bool | None = None
    ) -> None:
        core.state.record(
            account=account.name,
            method=request.method,
            path=request.url.path,
            product=product,
            number=fields.number_e164,
            request_id=request_id,
            http_status=status,
            outcome=outcome,
            fault=fault,
            billable=billable,
            text=fields.raw("text") if product == "sms" else None,
        )

    try:
        if has_body:
            fields = Fields(parse_fields(request.headers.get("content-type"), await read_body(request)))
        result = handler(core, account, fields, dict(request.path_params))
    except ApiError as exc:
        record(exc.status, f"ERROR_{exc.code}")
        return error_response(exc.code, close=exc.close)
    except Exception:
        log.exception("sandbox handler for %s failed", request.url.path)
        record(500, "ERROR_500")
        return JSONResponse({"errorCode": 500, "errorReason": "Internal error"}, 500)
    record(200, result.outcome, result.request_id, result.billable)
    if result.after is not None:
        result.after()
    return JSONResponse(result.body)


def _caller_id(account: Account, fields: Fields) -> str | None:
    sender = fields.optional("from")
    if sender is not None and not account.caller_id_allowed(sender):
        raise ApiError(c.ERROR_SENDER_NOT_ALLOWED)
    return sender.strip().lstrip("+") if sender is not None else None


def sms(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    number = f.number()
    f.required("text")
    sender = f.optional("from")
    callback = f.callback_url()
    if sender is not None and not account.sms_sender_allowed(sender):
        raise ApiError(c.ERROR_SENDER_NOT_ALLOWED)
    request_id = core.state.new_request_id()
    final = sms_final_status(number)
    core.state.add_request(request_id, KnownRequest(account.name, "sms", number.e164, time.time()))
    after = None
    if callback:
        after = lambda: actions.schedule_sms_receipts(core, callback, request_id, number, final)  # noqa: E731
    return Result({"requestId": request_id}, final, request_id, final != "REJECTED", after)


def insight_hlr(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    number = f.number()
    f.callback_url()  # accepted and validated; the answer is synchronous
    info = hlr(number)
    request_id = core.state.new_request_id()
    body = {
        "id": request_id,
        "product": "insight.hlr",
        "number": number.e164,
        "mccmnc": info.mccmnc,
        "network": info.network,
        "country": info.country,
        "status": info.status,
        "createdAt": int(time.time() * 1000),
    }
    return Result(body, info.status, request_id)


def insight_fraud(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    number = f.number()
    f.callback_url()
    status, mobile = fraud_check(number)
    return Result({"status": status, "mobilePrefix": mobile}, status)


def _call(core: Core, account: Account, f: Fields, product: str, caller: str | None = None) -> Result:
    """Shared tail of flash / p2s / t2s: outcome by number rule, optional receipt."""
    number = f.number()
    callback = f.callback_url()
    request_id = core.state.new_request_id()
    status, sip = call_status(number)
    core.state.add_request(request_id, KnownRequest(account.name, product, number.e164, time.time()))
    body: dict[str, Any] = {"requestId": request_id}
    if caller is not None:
        body["from"] = caller
    after = None
    if callback:
        after = lambda: actions.schedule_call_receipt(core, callback, request_id, number, status, sip)  # noqa: E731
    return Result(body, status, request_id, status == "ANSWERED", after)


def flash(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    f.number()
    code = f.code(required=False)
    sender = _caller_id(account, f)
    # The caller id the user sees: the validated ``from`` or a generated number
    # ending with ``code`` (Estonian-looking like the reference's "37282329823").
    caller = sender if sender is not None else core.state.new_digits("372", 11, code or "")
    return _call(core, account, f, "flash", caller)


def pin_to_speech(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    f.number()
    f.code(required=True)
    _caller_id(account, f)
    f.language(c.PIN_TO_SPEECH_LANGUAGES)
    return _call(core, account, f, "p2s")


def text_to_speech(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    f.number()
    f.required("text")
    _caller_id(account, f)
    f.language(c.TEXT_TO_SPEECH_LANGUAGES)
    return _call(core, account, f, "t2s")


def incoming(core: Core, account: Account, f: Fields, _: dict[str, str]) -> Result:
    number = f.number()
    callback = f.callback_url()
    ivr = f.boolean("ivrConfirmation")
    message = f.optional("ivrMessage")
    request_id = core.state.new_request_id()
    did = core.state.new_digits("37444", 12)
    now = time.time()
    delay = incoming_call_delay(number)
    reservation = Reservation(
        request_id=request_id,
        account=account.name,
        number=number,
        did=did,
        created_at=now,
        expires_at=now + core.state.expire_after,
        call_at=None if delay is None else now + delay,
        callback_url=callback,
        ivr_confirmation=ivr,
        ivr_message=message,
    )
    core.state.add_reservation(reservation)
    after = None
    if callback and delay is not None:
        after = lambda: actions.schedule_incoming_callback(core, request_id, callback, delay)  # noqa: E731
    body = {"requestId": request_id, "didNumber": did, "expiresAt": str(int(reservation.expires_at))}
    return Result(body, c.INCOMING_PENDING, request_id, None, after)


def incoming_info(core: Core, account: Account, f: Fields, params: dict[str, str]) -> Result:
    view = core.state.reservation_view(account.name, params["request_id"])
    if view is None:
        raise ApiError(c.ERROR_NOT_FOUND)
    return Result(view, view["status"], view["requestId"])


def notify(core: Core, account: Account, f: Fields, params: dict[str, str]) -> Result:
    goal = f.required("goal")
    if goal.strip() != c.GOAL_NUMBER_VERIFIED:
        raise ApiError(c.ERROR_INVALID_REQUEST)
    request_id = params["request_id"]
    if not core.state.verify_request(account.name, request_id):
        raise ApiError(c.ERROR_NOT_FOUND)
    body = {"requestId": request_id, "goal": c.GOAL_NUMBER_VERIFIED}
    return Result(body, c.GOAL_NUMBER_VERIFIED, request_id)


def build_router() -> APIRouter:
    router = APIRouter(prefix=c.DEFAULT_API_PATH)

    def post(path: str, product: str, handler: Handler) -> None:
        async def endpoint(request: Request) -> JSONResponse:
            return await _run(request, product, handler)

        router.add_api_route(path, endpoint, methods=["POST"], include_in_schema=False)

    post(c.PATH_SMS, "sms", sms)
    post(c.PATH_HLR, "hlr", insight_hlr)
    post(c.PATH_FRAUD_CHECK, "fraudcheck", insight_fraud)
    post(c.PATH_FLASH_CALL, "flash", flash)
    post(c.PATH_INCOMING_CALL, "incoming", incoming)
    post(c.PATH_PIN_TO_SPEECH, "p2s", pin_to_speech)
    post(c.PATH_TEXT_TO_SPEECH, "t2s", text_to_speech)
    post(c.PATH_REQUEST_GOAL, "notify", notify)

    async def get_incoming(request: Request) -> JSONResponse:
        return await _run(request, "incoming_info", incoming_info, has_body=False)

    router.add_api_route(c.PATH_INCOMING_CALL_INFO, get_incoming, methods=["GET"], include_in_schema=False)
    return router
