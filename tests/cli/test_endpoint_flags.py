"""`generate --endpoint NAME`: that endpoint's flags, its images as options (issue 30)."""

from __future__ import annotations

import base64

import pytest
from flux_canny._operations import CANNY

from ..conftest import make_image


@pytest.fixture
def images(workdir):
    """Three distinct images in the working folder: a.png, b.png and a mask."""
    (workdir / "a.png").write_bytes(make_image("PNG", (64, 48)))
    (workdir / "b.png").write_bytes(make_image("PNG", (48, 64)))
    (workdir / "mask.png").write_bytes(make_image("PNG", (64, 40)))
    return workdir


def _b64(path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def _submitted(fake):
    """The one task's operation and body, as sent (the fake drops the images once drawn)."""
    (task,) = fake.tasks.values()
    return task.operation, task.body


def test_flux2_sends_both_input_images_each_in_its_own_field(run, fake, images):
    ran = run(
        "generate --endpoint flux-2-pro --prompt 'the two' --input-image a.png "
        "--input-image-2 b.png -o two.png --no-wait"
    )
    assert ran.code == 0, ran.err
    operation, body = _submitted(fake)
    assert operation == "flux-2-pro"
    assert body["input_image"] == _b64(images / "a.png")
    assert body["input_image_2"] == _b64(images / "b.png")
    assert "control_image" not in body and "finetune_id" not in body
    ran = run(f"result {ran.out.strip()} -q")  # the output recorded at submit
    assert ran.code == 0, ran.err
    assert ran.out.strip() == str(images / "two.png") and (images / "two.png").stat().st_size


def test_fill_sends_its_image_and_mask(run, fake, images):
    ran = run(
        "generate --endpoint flux-pro-1.0-fill --image a.png --mask mask.png "
        "--prompt 'ivy' --steps 20 -o ivy.webp --no-wait"
    )
    assert ran.code == 0, ran.err
    operation, body = _submitted(fake)
    assert operation == "flux-pro-1.0-fill" and body["steps"] == 20
    assert body["image"] == _b64(images / "a.png")
    assert body["mask"] == _b64(images / "mask.png")
    assert body["output_format"] == "webp"  # from -o's extension: Fill makes WebP too


def test_kontext_and_a_finetuned_endpoint_take_their_own_flags(run, fake, images):
    kontext = "generate --endpoint flux-kontext-pro --prompt x --input-image a.png --no-wait"
    assert run(kontext).code == 0
    ultra = "generate --endpoint flux-pro-1.1-ultra-finetuned --prompt x --finetune-id my-finetune"
    ran = run(ultra + " --finetune-strength 1.5 --no-wait")
    assert ran.code == 0, ran.err
    bodies = {task.operation: task.body for task in fake.tasks.values()}
    assert bodies["flux-kontext-pro"]["input_image"] == _b64(images / "a.png")
    assert bodies["flux-pro-1.1-ultra-finetuned"]["finetune_strength"] == 1.5
    ran = run("generate --endpoint flux-kontext-pro --prompt x --input-image a.png -o k.jpg -q")
    assert ran.code == 0 and (images / "k.jpg").exists()


def test_a_flag_of_another_endpoint_is_refused_naming_those_that_take_it(run, fake, images):
    ran = run("generate --endpoint flux-2-pro --prompt x --mask mask.png")
    assert ran.code == 2 and ran.out == ""
    (line,) = ran.err.splitlines()
    assert "--mask is not a flag of flux-2-pro" in line
    assert "flux-pro-1.0-fill, flux-pro-1.0-fill-finetuned" in line
    assert not fake.tasks_created


def test_a_misspelt_flag_and_endpoint_get_suggestions(run, fake):
    ran = run("generate --endpoint flux-2-pro --promt x")
    assert ran.code == 2 and "Did you mean '--prompt'?" in ran.err
    ran = run("generate --endpoint flux-2-pr --prompt x")
    assert ran.code == 2 and len(ran.err.splitlines()) == 1
    assert "did you mean 'flux-2-pro'?" in ran.err
    assert not fake.tasks_created


def test_a_positional_image_is_the_canny_finetunes_alone(run, fake, images):
    ran = run("generate --endpoint flux-2-pro a.png --prompt x")
    assert ran.code == 2 and len(ran.err.splitlines()) == 1
    assert "flux-2-pro takes no positional argument (its images as --input-image," in ran.err
    assert not fake.tasks_created


def test_each_endpoints_help_lists_its_flags_with_ranges_and_defaults(run):
    ran = run("generate --endpoint flux-2-pro --help")
    assert ran.code == 0
    options = " ".join(ran.out.split("Examples:")[0].split())
    assert "--input-image-8 IMAGE" in options and "or an https URL" in options
    assert "[0–5; default: 2]" in options  # FLUX.2's safety tolerance, not the canny one's 6
    assert "--finetune-id" not in options and "--steps" not in options
    canny = " ".join(run("generate --help").out.split("Examples:")[0].split())
    assert "Usage: flux-canny generate [OPTIONS] CONTROL" in canny
    assert "--finetune-id" in canny and "[15–50; default: 50]" in canny
    assert "--input-image" not in canny


def test_a_required_image_of_another_endpoint_is_asked_for(run, fake):
    ran = run("generate --endpoint flux-pro-1.0-fill --prompt x")
    assert ran.code == 2 and "Missing option '--image'" in ran.err
    assert not fake.tasks_created


def test_a_task_routed_to_bfls_global_host_is_finished_by_result(run, fake, images):
    """With no base URL each endpoint goes to its spec server (FLUX.2: api.bfl.ai), and
    `result ID` fetches it from there without being told where."""
    ran = run("generate --endpoint flux-2-pro --prompt x --input-image a.png --no-wait")
    assert ran.code == 0, ran.err
    task_id = ran.out.strip()
    submits = [r for r in fake.records if r.method == "POST"]
    assert [r.host for r in submits] == ["api.bfl.ai"]
    ran = run(f"result {task_id} -o later.png -q")
    assert ran.code == 0, ran.err
    assert ran.out.strip() == "later.png" and (images / "later.png").exists()
    assert sum(fake.tasks_created.values()) == 1


def test_tasks_say_each_tasks_endpoint(run, fake, images):
    assert run("generate control.png --prompt x --finetune-id my-finetune -q").code == 0
    assert run("generate --endpoint flux-2-pro --prompt x -q").code == 0
    records = run("tasks --json").json_lines()
    assert [r["endpoint"] for r in records] == ["flux-2-pro", CANNY]
    table = run("tasks").out
    assert "endpoint" in table and "flux-2-pro" in table


def test_one_image_of_any_endpoint_may_come_from_stdin(run, fake, images, monkeypatch):
    import io
    import sys

    data = (images / "b.png").read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    ran = run(
        "generate --endpoint flux-2-pro --prompt x --input-image a.png --input-image-2 - --no-wait"
    )
    assert ran.code == 0, ran.err
    assert _submitted(fake)[1]["input_image_2"] == _b64(images / "b.png")
    ran = run("generate --endpoint flux-pro-1.0-fill --prompt x --image - --mask -")
    assert ran.code == 2 and len(ran.err.splitlines()) == 1
    assert "only one image can come from standard input, not image, mask" in ran.err
    assert sum(fake.tasks_created.values()) == 1
