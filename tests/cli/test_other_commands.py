"""`edges`, `finetunes` and `finetune-details`."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from flux_canny.cli import _exit
from PIL import Image

from ..conftest import make_image
from .conftest import GEN


def test_edges_writes_an_edge_map_that_follows_the_thresholds(run, workdir):
    (workdir / "photo.png").write_bytes(make_image("PNG", (120, 90)))
    low = run("edges photo.png -o low.png --low 10 --high 40")
    assert low.code == 0, low.err
    assert low.out.strip() == "low.png" and "edge pixels" in low.err
    with Image.open(workdir / "low.png") as image:
        edges = np.asarray(image)
    assert image.format == "PNG" and edges.shape == (90, 120)
    assert set(np.unique(edges)) <= {0, 255} and (edges > 0).any()
    blank = run("edges photo.png -o high.png --low 499 --high 500")
    assert blank.code == 0
    with Image.open(workdir / "high.png") as image:
        assert (np.asarray(image) > 0).sum() <= (edges > 0).sum()


def test_edges_refuses_what_the_api_would_refuse_and_existing_files(run, workdir):
    (workdir / "photo.png").write_bytes(make_image())
    ran = run("edges photo.png -o e.png --high 501")
    assert ran.code == _exit.EXIT_BAD_INPUT
    assert "--high 501: Input should be less than or equal to 500" in ran.err
    assert "nothing was sent" not in ran.err  # a preview sends nothing anyway
    ran = run("edges photo.png -o e.png --low 300 --high 100")
    assert ran.code == _exit.EXIT_BAD_INPUT and "--low (300) is above --high (100)" in ran.err
    assert not (workdir / "e.png").exists()
    (workdir / "e.png").write_bytes(b"keep")
    ran = run("edges photo.png -o e.png")
    assert ran.code == _exit.EXIT_BAD_INPUT and "exists" in ran.err
    assert (workdir / "e.png").read_bytes() == b"keep"
    ran = run("edges control.png/nope.png -o other.png")
    assert ran.code == _exit.EXIT_BAD_INPUT and len(ran.err.strip().splitlines()) == 1


def test_edges_without_opencv_names_the_extra(run, workdir, monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    ran = run("edges control.png -o e.png")
    assert ran.code == 1
    assert "pip install 'flux-canny[edges]'" in ran.err and not (workdir / "e.png").exists()


def test_finetunes_and_details(run, fake):
    fake.finetunes = ["my-finetune", "other"]
    assert run("finetunes").out.split() == ["my-finetune", "other"]
    assert run("finetunes --json").json() == ["my-finetune", "other"]
    details = run("finetune-details my-finetune --json")
    assert details.code == 0 and isinstance(details.json(), dict) and details.json()
    assert "my-finetune" in run("finetune-details my-finetune").out


@pytest.mark.parametrize("command", ["finetunes", "finetune-details x"])
def test_account_commands_without_a_key(run, fake, monkeypatch, command):
    monkeypatch.delenv("BFL_API_KEY")
    ran = run(command)
    assert ran.code == _exit.EXIT_BAD_INPUT and "BFL_API_KEY" in ran.err


def test_credits_and_running_out_of_them(run, fake):
    fake.credits, fake.cost_per_task = 5.0, 5.0
    assert run("credits").out.strip() == "5"
    assert run("credits --json").json() == {"credits": 5.0}
    assert run(GEN).code == 0
    ran = run(GEN)
    assert ran.code == _exit.EXIT_REJECTED and "out of credits" in ran.err
    assert "Insufficient credits" in ran.err and len(fake.tasks) == 1
