"""Mutated control images: every one is accepted or an ImageInputError, never anything
else, and a refused one sends nothing. 10,000+ mutants in make test-thorough, a sample in
make test."""

from __future__ import annotations

import random

import pytest
import respx
from flux_canny import FluxCanny, ImageInputError
from flux_canny.images import base64_control_image

from tests.conftest import BASE, KEY, make_image

SUBMIT = f"{BASE}/v1/flux-pro-1.0-canny-finetuned"


def pytest_generate_tests(metafunc):
    if "mutants" in metafunc.fixturenames:
        thorough = metafunc.config.getoption("hypothesis_profile", None) == "thorough"
        metafunc.parametrize("mutants", [4000 if thorough else 500])


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        where = rng.randrange(len(out)) if out else 0
        op = rng.choice(["flip", "cut", "zero", "dup", "insert", "len"])
        if op == "flip" and out:
            out[where] ^= 1 << rng.randrange(8)
        elif op == "cut":
            del out[where:]
        elif op == "zero":
            out[where : where + rng.randint(1, 16)] = b"\0" * len(out[where : where + 16])
        elif op == "dup":
            out[where:where] = out[where : where + rng.randint(1, 64)]
        elif op == "insert":
            out[where:where] = rng.randbytes(rng.randint(1, 32))
        elif op == "len" and len(out) > where + 4:  # a length or size field gone wild
            out[where : where + 4] = rng.randbytes(4)
    return bytes(out)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_mutated_images_are_accepted_or_an_image_input_error(fmt, mutants):
    seed = make_image(fmt, (48, 40))
    rng = random.Random(f"{fmt}-{mutants}")
    refused = 0
    for _ in range(mutants):
        try:
            base64_control_image(_mutate(seed, rng))
        except ImageInputError:
            refused += 1
    assert refused > mutants // 4  # the mutations do break images


def test_a_refused_mutant_sends_nothing(png):
    rng = random.Random(7)
    with (
        respx.mock(assert_all_called=False) as api,
        FluxCanny(api_key=KEY, ledger=False) as flux,
    ):
        route = api.post(SUBMIT).respond(200, json={"id": "t", "polling_url": f"{BASE}/x"})
        accepted = 0
        for i in range(40):
            image = png if i % 5 == 0 else _mutate(png, rng)  # some intact ones among them
            try:
                flux.submit(control_image=image, prompt="p", finetune_id="f")
                accepted += 1
            except ImageInputError:
                pass
        assert route.call_count == accepted and 8 <= accepted < 40
