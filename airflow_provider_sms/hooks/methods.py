"""The API's endpoints as hook methods, declared once for the sync and the async hook.

Each builder of :mod:`airflow_provider_sms.api.endpoints` becomes a method of both hooks that
builds the request and sends it with the hook's ``run``: ``hook.send_sms(number, text)``
returns a :class:`~airflow_provider_sms.api.results.SmsResult`, ``await
async_hook.send_sms(number, text)`` the same. The method takes the builder's parameters and
docstring, so the two hooks cannot drift apart from each other or from the builders, and
mypy checks every call against the builder's signature.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, get_args, get_type_hints, overload

from airflow_provider_sms.api.request import ApiRequest

if TYPE_CHECKING:
    from airflow_provider_sms.hooks.sms_api import SmsApiHook
    from airflow_provider_sms.hooks.sms_api_async import SmsApiAsyncHook

P = ParamSpec("P")
T = TypeVar("T")


class EndpointMethod(Generic[P, T]):
    """A hook method that sends what ``build`` builds: ``T`` from the sync hook, awaited from the async one.

    :param build: a builder of :mod:`airflow_provider_sms.api.endpoints`; the attribute that
        holds this method must have the builder's name.
    """

    def __init__(self, build: Callable[P, ApiRequest[T]]) -> None:
        self.build = build
        self.__name__ = build.__name__
        self.__doc__ = build.__doc__
        self.__wrapped__ = build
        signature = inspect.signature(build)
        (result,) = get_args(get_type_hints(build)["return"])
        #: The bound method's signature: the builder's, returning the result, not the request.
        self.bound_signature = signature.replace(return_annotation=result)
        # Looked up on the class, this is an unbound method (``SmsApiHook.send_sms(hook, ...)``),
        # with ``self`` first, as documentation tools expect of one.
        hook_param = inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)
        self.__signature__ = self.bound_signature.replace(
            parameters=[hook_param, *self.bound_signature.parameters.values()]
        )

    def __call__(self, hook: Any, /, *args: Any, **kwargs: Any) -> Any:
        """Called on the class with the hook first, like any unbound method."""
        return self.__get__(hook, type(hook))(*args, **kwargs)

    def __set_name__(self, owner: type[Any], name: str) -> None:
        if name != self.build.__name__:
            raise TypeError(f"{owner.__name__}.{name} must be named as its builder {self.build.__name__!r}")

    @overload
    def __get__(self, hook: None, owner: type[Any]) -> EndpointMethod[P, T]: ...

    @overload
    def __get__(self, hook: SmsApiAsyncHook, owner: type[Any]) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __get__(self, hook: SmsApiHook, owner: type[Any]) -> Callable[P, T]: ...

    def __get__(self, hook: Any, owner: type[Any]) -> Any:
        if hook is None:
            return self
        build = self.build
        method: Callable[..., Any]
        if inspect.iscoroutinefunction(hook.run):

            async def send_async(*args: Any, **kwargs: Any) -> Any:
                return await hook.run(build(*args, **kwargs))

            method = send_async
        else:

            def send(*args: Any, **kwargs: Any) -> Any:
                return hook.run(build(*args, **kwargs))

            method = send
        functools.update_wrapper(method, build)
        method.__dict__["__signature__"] = self.bound_signature  # the result, not ApiRequest[result]
        return method


__all__ = ["EndpointMethod"]
