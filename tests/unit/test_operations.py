"""The operations read from the spec: BFL's 16 generation endpoints and the seed's."""

from __future__ import annotations

import importlib

import pytest
from flux_canny._operations import CANNY, operation, operations
from flux_canny.errors import InvalidArgumentError


def test_every_generation_endpoint_of_the_spec_is_an_operation():
    found = operations()
    assert len(found) == 17 and CANNY in found
    assert [o.name for o in found.values() if o.seed] == [CANNY]
    assert {"flux-2-pro", "flux-kontext-max", "flux-pro-1.0-fill"} <= set(found)
    assert "delete_finetune" not in found  # answers no task


def test_each_knows_its_images_its_server_and_its_generated_module():
    assert operation(CANNY).image_fields == ("control_image",)
    assert operation("flux-pro-1.0-fill").image_fields == ("image", "mask")
    assert operation("flux-2-pro").image_fields[:2] == ("input_image", "input_image_2")
    assert "input_image" in operation("flux-kontext-pro").url_fields
    assert not operation("flux-pro-1.0-fill").url_fields
    finetuned = {o.name for o in operations().values() if o.finetuned}
    assert finetuned == {CANNY, "flux-pro-1.0-fill-finetuned", "flux-pro-1.1-ultra-finetuned"}
    for each in operations().values():
        assert (each.server == "https://api.us1.bfl.ai") == each.finetuned
        assert hasattr(importlib.import_module(each.module_name), "sync_detailed")


def test_a_misspelt_endpoint_is_refused_with_the_nearest_name():
    with pytest.raises(InvalidArgumentError, match=r"did you mean 'flux-2-pro'"):
        operation("flux-2-pr")
