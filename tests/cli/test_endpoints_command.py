"""`flux-canny endpoints`: every endpoint of the spec, the seed's marked (issue 30)."""

from __future__ import annotations

from flux_canny._operations import CANNY, operations


def test_endpoints_lists_every_endpoint_of_the_spec(run):
    ran = run("endpoints")
    assert ran.code == 0
    for name in operations():
        assert name in ran.out
    assert "FLUX.1 Fill [pro]" in ran.out  # BFL's words, not eaten as markup
    assert "input_image … input_image_8 (or URLs)" in ran.out


def test_endpoints_json_says_what_each_takes_and_which_bfl_no_longer_publishes(run):
    ran = run("endpoints --json")
    records = {r["name"]: r for r in ran.json_lines()}
    assert set(records) == set(operations())
    seed = records[CANNY]
    assert seed["published_by_bfl"] is False and "no longer publishes" in seed["description"]
    assert seed["image_inputs"] == ["control_image"] and seed["finetuned"] is True
    assert seed["server"] == "https://api.us1.bfl.ai"
    fill = records["flux-pro-1.0-fill"]
    assert fill["image_inputs"] == ["image", "mask"] and fill["server"] == "https://api.bfl.ai"
    assert records["flux-2-pro"]["url_inputs"][:1] == ["input_image"]
    assert all(r["published_by_bfl"] for n, r in records.items() if n != CANNY)
