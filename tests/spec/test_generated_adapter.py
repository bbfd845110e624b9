"""The generated package's private helpers, as the adapter reaches them, pinned.

`flux_canny._generated` is the only module that touches `_get_kwargs`/`_parse_response`;
a generator upgrade that renames or reshapes them fails here, with the name of what moved.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from flux_canny import _generated

WRAPPER = Path(_generated.__file__).parent


@pytest.mark.parametrize("module", _generated.MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_each_generated_helper_has_the_signature_the_adapter_calls(module):
    build = inspect.signature(module._get_kwargs)
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in build.parameters.values())
    parse = inspect.signature(module._parse_response)
    assert list(parse.parameters) == ["client", "response"]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in parse.parameters.values())


def test_the_adapter_builds_what_the_generated_code_would_send():
    assert _generated.MY_FINETUNES.request() == {"method": "get", "url": "/v1/my_finetunes"}
    details = _generated.FINETUNE_DETAILS.request(finetune_id="ft")
    assert details["url"] == "/v1/finetune_details" and details["params"] == {"finetune_id": "ft"}


def test_no_other_wrapper_module_reaches_generated_internals():
    offenders = []
    for path in WRAPPER.rglob("*.py"):
        if path.name == "_generated.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in ("_get_kwargs", "_parse_response"):
                offenders.append(f"{path.relative_to(WRAPPER)}:{node.lineno}")
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "flux_canny_api.api"
            ):
                offenders.append(f"{path.relative_to(WRAPPER)}:{node.lineno}")
    assert offenders == []
