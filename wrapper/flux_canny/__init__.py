"""flux_canny: a careful client for BFL's FLUX.1 Canny [pro] finetune endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._auth import DEFAULT_TRUSTED_HOSTS
from ._base import API_KEY_ENV, BASE_URL_ENV, DEFAULT_BASE_URL
from ._budget import Budget
from ._params import Endpoint
from .client import FluxCanny
from .clock import Clock, SystemClock
from .errors import (
    APIConnectionError,
    APIStatusError,
    APIValidationError,
    AuthenticationError,
    BudgetExhaustedError,
    ClientClosedError,
    ConfigurationError,
    EventLoopError,
    FluxCannyError,
    GenerationError,
    ImageDecodeError,
    ImageExistsError,
    ImageInputError,
    ImageSaveError,
    InsufficientCreditsError,
    InvalidArgumentError,
    LedgerError,
    MissingAPIKeyError,
    ModerationError,
    RateLimitError,
    RequestValidationError,
    SampleExpiredError,
    SubmitUncertainError,
    TaskError,
    TaskNotFoundError,
    UnknownParameterError,
    UntrustedURLError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from .images import GeneratedImage, encode_control_image
from .models import Result, Task
from .policy import DurationModel, PollPlan, PollPolicy, RetryPolicy
from .validation import validate_inputs

if TYPE_CHECKING:
    from .aclient import BFL_ACTIVE_TASK_LIMIT, AsyncFluxCanny
    from .webhooks import WebhookEvent, parse_webhook

__version__ = "0.1.0"

#: loaded on first use (PEP 562), so `import flux_canny` pays only for the sync client:
#: the async face brings asyncio, webhooks their HTTP parsing
_LAZY = {
    "AsyncFluxCanny": "aclient",
    "BFL_ACTIVE_TASK_LIMIT": "aclient",
    "WebhookEvent": "webhooks",
    "parse_webhook": "webhooks",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'flux_canny' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "BFL_ACTIVE_TASK_LIMIT",
    "DEFAULT_BASE_URL",
    "DEFAULT_TRUSTED_HOSTS",
    "APIConnectionError",
    "APIStatusError",
    "APIValidationError",
    "AsyncFluxCanny",
    "AuthenticationError",
    "Budget",
    "BudgetExhaustedError",
    "ClientClosedError",
    "Clock",
    "ConfigurationError",
    "DurationModel",
    "Endpoint",
    "EventLoopError",
    "FluxCanny",
    "FluxCannyError",
    "GeneratedImage",
    "GenerationError",
    "ImageDecodeError",
    "ImageExistsError",
    "ImageInputError",
    "ImageSaveError",
    "InsufficientCreditsError",
    "InvalidArgumentError",
    "LedgerError",
    "MissingAPIKeyError",
    "ModerationError",
    "PollPlan",
    "PollPolicy",
    "RateLimitError",
    "RequestValidationError",
    "Result",
    "RetryPolicy",
    "SampleExpiredError",
    "SubmitUncertainError",
    "SystemClock",
    "Task",
    "TaskError",
    "TaskNotFoundError",
    "UnknownParameterError",
    "UntrustedURLError",
    "WaitTimeoutError",
    "WebhookEvent",
    "WebhookVerificationError",
    "encode_control_image",
    "parse_webhook",
    "validate_inputs",
]
