"""Hunting the failures that cost money: double submits, lost tasks, leaked keys, bad input."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter

import numpy as np
import pytest
from flux_canny import (
    FluxCanny,
    FluxCannyError,
    GeneratedImage,
    ImageInputError,
    MissingAPIKeyError,
    RequestValidationError,
    SubmitUncertainError,
)
from flux_canny.fake import FakeBFL, VirtualClock

from tests.conftest import make_image

KEY = "sk-live-SECRET-0000111122223333"
SUBMIT_PATH = "/v1/flux-pro-1.0-canny-finetuned"
FAULTS = [500, 502, 503, 429, "connect", "drop", "slow", "malformed"]


class FaultyFake(FakeBFL):
    """Injects a random fault into about one request in six, seeded."""

    def __init__(self, rng: random.Random, **knobs):
        super().__init__(**knobs)
        self.rng = rng

    def handle(self, request):
        if self.rng.random() < 0.17:
            path = request.url.path
            if path.startswith("/results/"):
                kind = self.rng.choice([503, 403, "drop", "slow"])  # 403: an expired URL
            else:
                kind = self.rng.choice(FAULTS)
            self.fail_next(
                1, kind, path=path, delay=60, retry_after=self.rng.choice([None, 0.5, 2])
            )
        return super().handle(request)


def test_300_generations_under_random_faults_lose_nothing_and_pay_once(caplog):
    rng = random.Random(7)
    clock = VirtualClock()
    fake = FaultyFake(
        rng,
        api_keys=[KEY],
        clock=clock,
        task_duration=2,
        pending_status="Generating",
        max_active_tasks=24,
    )
    fake.queue_outcomes(
        *rng.choices(["Ready"] * 12 + ["Failed", "Error", "Content Moderated"], k=300)
    )
    png = make_image()
    jobs = [
        {"control_image": png, "prompt": f"job {i}", "finetune_id": "my-finetune", "seed": i}
        for i in range(300)
    ]
    known: dict[int, str] = {}

    async def run():
        async with fake.async_client(api_key=KEY, timeout=10) as flux:
            return await flux.generate_many(
                jobs, concurrency=24, on_submit=lambda i, t: known.__setitem__(i, t.id)
            )

    with caplog.at_level(logging.DEBUG):
        outcomes = asyncio.run(run())

    kinds = Counter(type(o).__name__ for o in outcomes)
    assert len(outcomes) == 300
    assert all(isinstance(o, GeneratedImage | FluxCannyError) for o in outcomes), kinds
    assert kinds["GeneratedImage"] > 150, kinds
    # one task per request at most: no submit was repeated after an ambiguous failure
    per_prompt = Counter(t.body["prompt"] for t in fake.tasks.values())
    assert max(per_prompt.values()) == 1
    # every task the fake created is known to the caller, or the caller was told it may exist
    uncertain = {i for i, o in enumerate(outcomes) if isinstance(o, SubmitUncertainError)}
    created = {int(t.body["prompt"].split()[1]) for t in fake.tasks.values()}
    assert created <= set(known) | uncertain
    assert set(known.values()) <= set(fake.tasks)
    assert fake.tasks_created[KEY] == len(fake.tasks)
    # errors after submission name their task
    for i, outcome in enumerate(outcomes):
        if isinstance(outcome, FluxCannyError) and i in known:
            assert outcome.task_id == known[i], (i, outcome)
    # the key went to the API host only, and appears in no log record or error text
    assert fake.key_seen_by_hosts() <= {"api.us1.bfl.ai"}
    assert all(r.key in (None, KEY) for r in fake.records)
    assert all(r.key is None for r in fake.records if r.path.startswith("/results/"))
    text = "\n".join(r.getMessage() for r in caplog.records) + "\n".join(map(repr, outcomes))
    assert KEY not in text and KEY not in "\n".join(str(o) for o in outcomes)
    assert len(caplog.records) > 100  # the log really was captured at DEBUG
    print(
        "fault run outcomes:",
        dict(kinds),
        "| tasks created:",
        len(fake.tasks),
        "| requests:",
        sum(fake.requests.values()),
    )


def _bad_inputs(tmp_path):
    png = make_image()
    jpeg = make_image("JPEG")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    images = {
        "missing file": tmp_path / "nope.png",
        "directory": tmp_path,
        "empty bytes": b"",
        "text bytes": b"hello world",
        "text file": text,
        "truncated png": png[:30],
        "half png": png[: len(png) // 2],
        "corrupt png crc": png[:40] + b"\0" * 8 + png[48:],
        "truncated jpeg": jpeg[:-60],
        "jpeg without scan": jpeg[:20],
        "gif": b"GIF89a" + b"\0" * 20,
        "huge dimensions png": _huge_png(),
        "float array": np.zeros((4, 4), np.float32),
        "4-channel-ish bad shape": np.zeros((4, 4, 2), np.uint8),
        "empty array": np.zeros((0, 4), np.uint8),
        "not base64": "!!not base64!!",
        "base64 of text": "aGVsbG8gd29ybGQ=",
        "int": 42,
        "data uri without base64": "data:image/png,abc",
        "None": None,
    }
    params = {
        "steps too high": {"steps": 51},
        "steps too low": {"steps": 14},
        "steps fraction": {"steps": 20.5},
        "steps word": {"steps": "many"},
        "guidance zero": {"guidance": 0},
        "guidance huge": {"guidance": 1e9},
        "strength negative": {"finetune_strength": -0.1},
        "safety 7": {"safety_tolerance": 7},
        "threshold 501": {"canny_low_threshold": 501},
        "threshold -1": {"canny_high_threshold": -1},
        "format gif": {"output_format": "gif"},
        "webhook ftp": {"webhook_url": "ftp://x.example"},
        "webhook too long": {"webhook_url": "https://x.example/" + "a" * 2100},
        "webhook relative": {"webhook_url": "/hook"},
        "upsampling list": {"prompt_upsampling": [1]},
        "seed text": {"seed": "forty-two"},
        "prompt None": {"prompt": None},
    }
    return png, images, params


def _huge_png() -> bytes:
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))  # noqa: E731
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0"))
        + chunk(b"IEND", b"")
    )


def test_a_corpus_of_bad_inputs_fails_typed_before_any_request(tmp_path, monkeypatch):
    fake = FakeBFL(clock=VirtualClock())
    png, images, params = _bad_inputs(tmp_path)
    out = tmp_path / "out"
    failures = 0
    with fake.client() as flux:
        for name, image in images.items():
            with pytest.raises(ImageInputError):
                flux.generate(control_image=image, prompt="p", finetune_id="ft").save(out / "x.png")
            failures += 1
            del name
        for name, extra in params.items():
            args = {"prompt": "p", "finetune_id": "ft", **extra}
            with pytest.raises(RequestValidationError) as caught:
                flux.generate(control_image=png, **args).save(out / "x.png")
            assert caught.value.errors, name
            failures += 1
        with pytest.raises(TypeError):
            flux.generate(control_image=png, prompt="p", finetune_id="ft", stepz=20)
        failures += 1
    monkeypatch.delenv("BFL_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        FluxCanny()
    with pytest.raises(MissingAPIKeyError):
        FluxCanny(api_key="has space")
    failures += 2
    assert failures >= 30
    assert sum(fake.requests.values()) == 0
    assert not out.exists()
