"""The endpoint methods: one per builder, the same on both hooks, with the builder's signature."""

from __future__ import annotations

import asyncio
import inspect
import typing
from typing import Any

import pytest

from airflow_provider_sms.api import endpoints
from airflow_provider_sms.api import results as r
from airflow_provider_sms.api.request import ApiRequest
from airflow_provider_sms.hooks.methods import EndpointMethod
from airflow_provider_sms.hooks.sms_api import SmsApiHook
from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook

BUILDERS = {
    name: build
    for name, build in vars(endpoints).items()
    if inspect.isfunction(build)
    and build.__module__ == endpoints.__name__
    and not name.startswith("_")
    and typing.get_origin(typing.get_type_hints(build)["return"]) is ApiRequest
    and name != "with_defaults"
}


def test_the_nine_endpoints_are_builders() -> None:
    assert set(BUILDERS) == {
        "send_sms",
        "hlr_lookup",
        "fraud_check",
        "flash_call",
        "reserve_incoming_call",
        "get_incoming_call",
        "pin_to_speech_call",
        "text_to_speech_call",
        "notify_verified",
    }


@pytest.mark.parametrize("name", sorted(BUILDERS))
def test_both_hooks_have_the_method_with_the_builders_signature(name: str) -> None:
    build = BUILDERS[name]
    (result,) = typing.get_args(typing.get_type_hints(build)["return"])
    expected = inspect.signature(build).replace(return_annotation=result)
    sync_method = getattr(SmsApiHook(), name)
    async_method = getattr(SmsApiAsyncHook(), name)

    assert inspect.signature(sync_method) == inspect.signature(async_method) == expected
    assert sync_method.__doc__ == async_method.__doc__ == build.__doc__
    assert not inspect.iscoroutinefunction(sync_method)
    assert inspect.iscoroutinefunction(async_method)
    assert isinstance(vars(SmsApiHook.__mro__[1])[name], EndpointMethod)  # declared once, on the base


class Recorder(SmsApiHook):
    def run(self, request: ApiRequest[Any]) -> Any:
        return request


class AsyncRecorder(SmsApiAsyncHook):
    async def run(self, request: ApiRequest[Any]) -> Any:
        return request


def test_a_method_sends_its_builders_request_through_run() -> None:
    sent = Recorder().send_sms("+447911123456", "hi", callback_url="https://x/cb")
    assert sent == endpoints.send_sms("+447911123456", "hi", None, "https://x/cb")
    awaited = asyncio.run(AsyncRecorder().pin_to_speech_call("+447911123456", code="1234"))
    assert awaited == endpoints.pin_to_speech_call("+447911123456", "1234")


def test_a_builders_error_surfaces_where_the_method_is_called_or_awaited() -> None:
    from airflow_provider_sms.exceptions import InvalidNumberError

    with pytest.raises(InvalidNumberError):
        Recorder().hlr_lookup("+44 77")
    pending = AsyncRecorder().hlr_lookup("+44 77")
    with pytest.raises(InvalidNumberError):
        asyncio.run(pending)


def test_a_method_must_carry_its_builders_name() -> None:
    with pytest.raises((TypeError, RuntimeError)) as raised:  # RuntimeError wraps it before Python 3.12

        class Misnamed(SmsApiHook):
            sms = EndpointMethod(endpoints.send_sms)

    assert "named as its builder 'send_sms'" in str(raised.value.__cause__ or raised.value)


def test_the_parsed_result_type_is_the_builders() -> None:
    request = endpoints.notify_verified(" wp9R/x ")
    assert request.path.endswith("/wp9R%2Fx")
    assert request.parse({}) == r.NotifyResult(raw={}, request_id="wp9R/x")
