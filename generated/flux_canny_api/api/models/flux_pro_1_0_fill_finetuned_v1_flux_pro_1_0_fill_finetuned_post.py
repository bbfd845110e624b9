from http import HTTPStatus
from typing import Any

import httpx

from ... import errors
from ...client import AuthenticatedClient, Client
from ...models.async_response import AsyncResponse
from ...models.async_webhook_response import AsyncWebhookResponse
from ...models.finetune_flux_pro_fill_inputs import FinetuneFluxProFillInputs
from ...models.http_validation_error import HTTPValidationError
from ...types import Response


def _get_kwargs(
    *,
    body: FinetuneFluxProFillInputs,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/v1/flux-pro-1.0-fill-finetuned",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> AsyncResponse | AsyncWebhookResponse | HTTPValidationError | None:
    if response.status_code == 200:

        def _parse_response_200(data: object) -> AsyncResponse | AsyncWebhookResponse:
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = AsyncResponse.from_dict(data)

                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            if not isinstance(data, dict):
                raise TypeError()
            response_200_type_1 = AsyncWebhookResponse.from_dict(data)

            return response_200_type_1

        response_200 = _parse_response_200(response.json())

        return response_200

    if response.status_code == 422:
        response_422 = HTTPValidationError.from_dict(response.json())

        return response_422

    if client.raise_on_unexpected_status:
        raise errors.UnexpectedStatus(response.status_code, response.content)
    else:
        return None


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[AsyncResponse | AsyncWebhookResponse | HTTPValidationError]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient,
    body: FinetuneFluxProFillInputs,
) -> Response[AsyncResponse | AsyncWebhookResponse | HTTPValidationError]:
    """Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.

     Submits an image generation task with the FLUX.1 Fill [pro] finetune model using an input image and
    mask. Mask can be applied to alpha channel or submitted as a separate image.

    Args:
        body (FinetuneFluxProFillInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AsyncResponse | AsyncWebhookResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient,
    body: FinetuneFluxProFillInputs,
) -> AsyncResponse | AsyncWebhookResponse | HTTPValidationError | None:
    """Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.

     Submits an image generation task with the FLUX.1 Fill [pro] finetune model using an input image and
    mask. Mask can be applied to alpha channel or submitted as a separate image.

    Args:
        body (FinetuneFluxProFillInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AsyncResponse | AsyncWebhookResponse | HTTPValidationError
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient,
    body: FinetuneFluxProFillInputs,
) -> Response[AsyncResponse | AsyncWebhookResponse | HTTPValidationError]:
    """Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.

     Submits an image generation task with the FLUX.1 Fill [pro] finetune model using an input image and
    mask. Mask can be applied to alpha channel or submitted as a separate image.

    Args:
        body (FinetuneFluxProFillInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[AsyncResponse | AsyncWebhookResponse | HTTPValidationError]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient,
    body: FinetuneFluxProFillInputs,
) -> AsyncResponse | AsyncWebhookResponse | HTTPValidationError | None:
    """Generate an image with FLUX.1 Fill [pro] finetune using an input image and mask.

     Submits an image generation task with the FLUX.1 Fill [pro] finetune model using an input image and
    mask. Mask can be applied to alpha channel or submitted as a separate image.

    Args:
        body (FinetuneFluxProFillInputs):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        AsyncResponse | AsyncWebhookResponse | HTTPValidationError
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
