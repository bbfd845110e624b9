"""Requests as they go on the wire: what a face hands to httpx, built once for both faces.

The submit body is the generated model's own JSON with each image spliced in as bytes.
A 24-megapixel control image is about 32 MB of base64; sent through httpx's
`json=` it would become a str, then json.dumps' copy of that str, then the UTF-8 copy of
the dump: three more full copies, and about twice the time of the base64 itself. Splicing
keeps every field's serialisation in the generated code and costs none of them. Large
bodies go out as parts under one Content-Length, so not even a join copies the image.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._generated import submit_endpoint
from ._operations import CANNY, Operation, operations

if TYPE_CHECKING:
    from ._auth import KeyAuth

__all__ = [
    "ANSWER_DEADLINE",
    "ANSWER_LIMIT",
    "AnswerReader",
    "AnswerTooLarge",
    "AnswerTooSlow",
    "BodyParts",
    "Send",
    "SubmitBody",
    "submit_body",
]

# Below this the parts are joined: one send beats three for a small body.
JOIN_BELOW = 1 << 20


@attrs.frozen(repr=False)
class BodyParts:
    """Bytes sent one after another. Iterating again replays them, so retries work."""

    parts: tuple[bytes, ...]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __repr__(self) -> str:
        return f"BodyParts(bytes={len(self)})"

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.parts)

    def for_async(self) -> _AsyncParts:
        return _AsyncParts(self.parts)


@attrs.frozen
class _AsyncParts:
    # httpx streams a sync iterable only from a sync client, so the async face needs an
    # object that is async-iterable and nothing else.
    parts: tuple[bytes, ...]

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for part in self.parts:
            yield part


#: the most an API answer (JSON) may hold; BFL's are a few hundred bytes
ANSWER_LIMIT = 8 << 20
#: how long one exchange may take from first byte sent to last byte read
ANSWER_DEADLINE = 120.0


class AnswerTooLarge(Exception):
    """The answer grew past its limit (counted after decompression): not read further."""


class AnswerTooSlow(Exception):
    """The answer was still arriving when its deadline passed (a drip-feed)."""


@attrs.frozen
class Send:
    """Send one HTTP request; `with_key=False` sends no API key whatever the host.

    `max_bytes` and `deadline` bound what the answer may cost: a hostile or broken server
    cannot take the memory (a gzip bomb counts decompressed) or hold the call forever
    (a byte every 20 s passes every read timeout, not the deadline)."""

    method: str
    url: httpx.URL | str
    with_key: bool = True
    #: the rest of `httpx.Client.request`'s keywords: params, headers, json, content
    options: Mapping[str, Any] = attrs.field(factory=dict)
    max_bytes: int = ANSWER_LIMIT
    deadline: float = ANSWER_DEADLINE

    def reader(self, now: float) -> AnswerReader:
        return AnswerReader(self.max_bytes, now + self.deadline, self.deadline)

    def httpx_kwargs(self, *, asynchronous: bool, auth: KeyAuth) -> dict[str, Any]:
        """Keywords for `request()`. The key goes per request (`auth`), never onto the
        httpx client, so a client the user passed in is used as it is, not altered; and
        without the key, neither the client's auth nor a key header it holds goes."""
        kwargs = {
            "method": self.method,
            "url": self.url,
            "auth": auth if self.with_key else auth.keyless,
            **self.options,
            # never, whatever the http_client says: a redirect would carry the key along
            "follow_redirects": False,
        }
        content = kwargs.get("content")
        if asynchronous and isinstance(content, BodyParts):
            kwargs["content"] = content.for_async()
        return kwargs


@attrs.define
class AnswerReader:
    """Collects a streamed answer within its bounds; the faces feed it chunk by chunk."""

    limit: int
    deadline: float
    seconds: float
    size: int = 0
    parts: list[bytes] = attrs.field(factory=list)

    def feed(self, chunk: bytes, now: float) -> None:
        self.size += len(chunk)
        if self.size > self.limit:
            self.parts.clear()
            raise AnswerTooLarge(
                f"the answer is larger than {self.limit:,} bytes (decompressed); not read further"
            )
        if now > self.deadline:
            self.parts.clear()
            raise AnswerTooSlow(f"the answer took longer than {self.seconds:g} s to arrive")
        self.parts.append(chunk)

    def response(self, streamed: httpx.Response) -> httpx.Response:
        """The streamed response, read: exactly what httpx's own `Response.read()` leaves
        (`_content` = the decoded bytes), done here because the reading had to be bounded.
        Building a fresh Response instead cost 25 us a request."""
        streamed._content = b"".join(self.parts)
        self.parts.clear()
        return streamed


@attrs.frozen(repr=False)
class SubmitBody:
    """A validated, encoded submit body, ready to send as often as retries need."""

    #: the generated endpoint's request keywords (method, url, headers...), with the
    #: body as `content` in place of its `json`
    request: Mapping[str, Any]
    #: what the ledger records of the request (never the image, never the key)
    summary: Mapping[str, Any] = attrs.field(factory=dict)
    #: the operation it is for, by name (which also chooses its server)
    operation: str = CANNY

    def __repr__(self) -> str:
        return f"SubmitBody(bytes={self.size})"

    @property
    def content(self) -> bytes | BodyParts:
        content: bytes | BodyParts = self.request["content"]
        return content

    @property
    def size(self) -> int:
        return len(self.content)

    def to_bytes(self) -> bytes:
        """The whole body in one piece (a copy when it is kept in parts)."""
        return self.content if isinstance(self.content, bytes) else b"".join(self.content)


def submit_body(
    fields: Mapping[str, Any],
    images: bytes | Mapping[str, bytes],
    operation: Operation | None = None,
) -> SubmitBody:
    """The generated endpoint's request for `fields`, with each base64 image in its slot.

    `fields` is every body field but the images, already validated and normalised;
    `images` maps image fields to their base64 bytes (bare bytes: the seed's control
    image). Each image is one part of the body, never copied into another.
    """
    op = operation if operation is not None else operations()[CANNY]
    slots = {"control_image": bytes(images)} if isinstance(images, bytes | bytearray) else images
    # Markers no user text can hold by chance (128 random bits), checked to occur once.
    markers = {name: f"flux-canny-image-{secrets.token_hex(16)}" for name in slots}
    endpoint, model = submit_endpoint(op.module_name, op.schema_name)
    request = endpoint.request(body=model.from_dict({**fields, **markers}))
    # httpx's own `json=` encoding, so the bytes are what the generated call would send.
    text = json.dumps(
        request.pop("json"), ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")
    places = []
    for name, marker in markers.items():
        quoted = json.dumps(marker).encode("ascii")
        if text.count(marker.encode("ascii")) != 1 or quoted not in text:
            raise RuntimeError(f"could not place {name} in the request body")
        places.append((text.index(quoted), len(quoted), name))
    parts: list[bytes] = []
    cursor = 0
    for at, length, name in sorted(places):
        parts += [text[cursor : at + 1], slots[name]]  # up to the opening quote, the image
        cursor = at + length - 1  # from the closing quote on
    parts.append(text[cursor:])
    headers = {str(k): str(v) for k, v in request.pop("headers", {}).items()}
    content: bytes | BodyParts
    if sum(len(image) for image in slots.values()) < JOIN_BELOW:
        content = b"".join(parts)
    else:
        content = BodyParts(tuple(parts))
        # httpx keeps an explicit Content-Length and does not fall back to chunked encoding.
        headers["Content-Length"] = str(len(content))
    summary = {
        "prompt": fields.get("prompt"),
        "finetune_id": fields.get("finetune_id"),
        "operation": op.name,
    }
    return SubmitBody({**request, "headers": headers, "content": content}, summary, op.name)
