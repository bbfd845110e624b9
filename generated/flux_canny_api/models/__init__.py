"""Contains all the data models used in inputs/outputs"""

from .async_response import AsyncResponse
from .async_webhook_response import AsyncWebhookResponse
from .credits_response import CreditsResponse
from .finetune_canny_inputs import FinetuneCannyInputs
from .finetune_detail_response import FinetuneDetailResponse
from .finetune_detail_response_finetune_details import (
    FinetuneDetailResponseFinetuneDetails,
)
from .http_validation_error import HTTPValidationError
from .my_finetunes_response import MyFinetunesResponse
from .output_format import OutputFormat
from .result_response import ResultResponse
from .result_response_details_type_0 import ResultResponseDetailsType0
from .result_response_preview_type_0 import ResultResponsePreviewType0
from .status_response import StatusResponse
from .validation_error import ValidationError

__all__ = (
    "AsyncResponse",
    "AsyncWebhookResponse",
    "CreditsResponse",
    "FinetuneCannyInputs",
    "FinetuneDetailResponse",
    "FinetuneDetailResponseFinetuneDetails",
    "HTTPValidationError",
    "MyFinetunesResponse",
    "OutputFormat",
    "ResultResponse",
    "ResultResponseDetailsType0",
    "ResultResponsePreviewType0",
    "StatusResponse",
    "ValidationError",
)
