"""The one door to the generated package's private helpers.

openapi-python-client builds each operation's request in `_get_kwargs` and parses its
answer in `_parse_response`; its public `sync`/`asyncio` functions would also send, which
the sans-IO core must do itself (retries, host checks, bounded reads). Those two helpers
are private to the generator, so they are reached from here only, behind typed
`Endpoint`s, and tests/spec/test_generated_adapter.py pins their signatures: a generator
upgrade that changes them fails there, not in a user's request.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, Generic, TypeVar, cast

import attrs
import flux_canny_api.models as _models
import httpx
from flux_canny_api.api.default import get_credits_v1_credits_get as _credits
from flux_canny_api.api.models import (
    flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post as _canny,
)
from flux_canny_api.api.utility import finetune_details_v1_finetune_details_get as _details
from flux_canny_api.api.utility import my_finetunes_v1_my_finetunes_get as _mine
from flux_canny_api.client import Client
from flux_canny_api.models.async_response import AsyncResponse
from flux_canny_api.models.async_webhook_response import AsyncWebhookResponse
from flux_canny_api.models.credits_response import CreditsResponse
from flux_canny_api.models.finetune_detail_response import FinetuneDetailResponse
from flux_canny_api.models.http_validation_error import HTTPValidationError
from flux_canny_api.models.my_finetunes_response import MyFinetunesResponse

__all__ = [
    "CREDITS",
    "FINETUNE_DETAILS",
    "MODULES",
    "MY_FINETUNES",
    "SUBMIT",
    "Endpoint",
    "submit_endpoint",
]

T = TypeVar("T")

# The generated parsers read one setting from their client: we want None, not a raise.
_PARSING = Client(base_url="http://unused.invalid", raise_on_unexpected_status=False)


@attrs.frozen
class Endpoint(Generic[T]):
    """One generated operation: its request keywords and its parsed 2xx answer."""

    name: str
    _build: Callable[..., dict[str, Any]]
    _parse: Callable[..., Any]

    def request(self, **kwargs: Any) -> dict[str, Any]:
        """httpx.request keywords (method, url, params, json...) for these arguments."""
        return self._build(**kwargs)

    def parse(self, response: httpx.Response) -> T | HTTPValidationError | None:
        """The answer as the generated model, or None when the spec does not describe it."""
        parsed = self._parse(client=_PARSING, response=response)
        return cast("T | HTTPValidationError | None", parsed)


def _endpoint(name: str, module: ModuleType) -> Endpoint[Any]:
    return Endpoint(name, module._get_kwargs, module._parse_response)


SUBMIT: Endpoint[AsyncResponse | AsyncWebhookResponse] = _endpoint("submit", _canny)
CREDITS: Endpoint[CreditsResponse] = _endpoint("credits", _credits)
MY_FINETUNES: Endpoint[MyFinetunesResponse] = _endpoint("my_finetunes", _mine)
FINETUNE_DETAILS: Endpoint[FinetuneDetailResponse] = _endpoint("finetune_details", _details)
#: every generated module reached, for the test that pins their helpers' signatures
MODULES: tuple[ModuleType, ...] = (_canny, _credits, _details, _mine)


@functools.cache
def submit_endpoint(module_name: str, schema_name: str) -> tuple[Endpoint[Any], Any]:
    """An operation's generated endpoint and its request model (`Operation.module_name`,
    `Operation.schema_name`), imported once: the generated code stays the authority on
    every operation's path and body, not only the seed's."""
    module = importlib.import_module(module_name)
    return _endpoint(module_name.rsplit(".", 1)[-1], module), getattr(_models, schema_name)
