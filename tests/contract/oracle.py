"""The oracle: a FastAPI + pydantic v2 app whose request model is written by hand, the way
BFL's server declares it. It is deliberately *not* derived from openapi.json, so agreement
with `validate_inputs` (which is) proves the spec-to-pydantic translation, not a tautology.
"""

from __future__ import annotations

import asyncio
import atexit
from enum import Enum
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field, HttpUrl


class OutputFormat(str, Enum):  # noqa: UP042 - as a FastAPI server of its era writes it
    jpeg = "jpeg"
    png = "png"


class FinetuneCannyInputs(BaseModel):
    finetune_id: str = Field(..., description="ID of the fine-tuned model you want to use.")
    finetune_strength: float = Field(1.1, ge=0.0, le=2.0)
    prompt: str
    canny_low_threshold: int | None = Field(50, ge=0, le=500)
    canny_high_threshold: int | None = Field(200, ge=0, le=500)
    control_image: str
    prompt_upsampling: bool = False
    seed: int | None = None
    steps: int = Field(50, ge=15, le=50)
    output_format: OutputFormat | None = OutputFormat.jpeg
    guidance: float = Field(30, ge=1, le=100)
    safety_tolerance: int = Field(2, ge=0, le=6)
    webhook_url: HttpUrl | None = None
    webhook_secret: str | None = None


app = FastAPI()


@app.post("/v1/flux-pro-1.0-canny-finetuned")
async def submit(body: FinetuneCannyInputs) -> dict[str, str]:
    return {"id": "oracle", "polling_url": "https://api.us1.bfl.ai/v1/get_result?id=oracle"}


class Oracle:
    """The app, called in process over ASGI on one event loop kept for the session.

    The same FastAPI validation as through starlette's TestClient, whose portal thread
    cost 5 ms a request: the thousands of oracle bodies were a fifth of `make test`.
    """

    def __init__(self) -> None:
        self._runner = asyncio.Runner()
        transport = httpx.ASGITransport(app=app)
        self._client = httpx.AsyncClient(transport=transport, base_url="http://oracle")
        atexit.register(self._runner.close)

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self._runner.run(self._client.post(path, **options))


def oracle_client() -> Oracle:
    return Oracle()
