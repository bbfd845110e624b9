"""The README's table of endpoints is the spec's, row for row (issue 29)."""

from __future__ import annotations

import re
from pathlib import Path

from flux_canny._operations import operations

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readmes_endpoint_table_lists_every_operation_as_the_spec_has_it():
    rows = re.findall(
        r"^\| `([\w.-]+)`[^|]*\| ([^|]+) \| (yes|no) \| ([\w.]+) \|$", README.read_text(), re.M
    )
    table = {name: (images.strip(), finetuned, server) for name, images, finetuned, server in rows}
    assert set(table) == set(operations())
    for name, each in operations().items():
        images, finetuned, server = table[name]
        assert (finetuned == "yes") == each.finetuned, name
        assert server == (each.server or "https://api.bfl.ai").removeprefix("https://"), name
        assert all(
            f"`{field}`" in images for field in (each.image_fields[0], each.image_fields[-1])
        )
        assert ("https URLs" in images) == bool(each.url_fields), name
