"""`make demo`: a whole generation against the embedded fake API on 127.0.0.1.

No key, no internet: starts the fake on loopback, submits the shipped control image,
shows progress while polling, downloads the image and writes it under out/.
"""

from __future__ import annotations

import sys
import time
from importlib import resources
from pathlib import Path

from . import FluxCanny, Result
from .fake import FakeBFL, FakeServer


def _progress(started: float) -> tuple[list[int], object]:
    polls = [0]

    def show(result: Result) -> None:
        polls[0] += 1
        fraction = result.progress if result.progress is not None else 0.0
        fraction = 1.0 if result.is_ready else fraction
        bar = "#" * int(fraction * 30)
        sys.stderr.write(
            f"\r  {result.status:<10} [{bar:<30}] {fraction:5.0%}  "
            f"{time.monotonic() - started:4.1f}s  poll {polls[0]}"
        )
        sys.stderr.flush()

    return polls, show


def main(out_dir: str = "out") -> int:
    control = resources.files("flux_canny").joinpath("samples/castle-control.png").read_bytes()
    with FakeServer(FakeBFL(task_duration=3.0)) as server:
        print(f"fake BFL API on {server.base_url} (samples from {server.fake.delivery_base})")
        started = time.monotonic()
        polls, show = _progress(started)
        with FluxCanny(api_key="test-key", base_url=server.base_url) as flux:
            image = flux.generate(
                control_image=control,
                prompt="a watercolour castle at dusk",
                finetune_id="my-finetune",
                canny_low_threshold=50,
                canny_high_threshold=200,
                output_format="png",
                seed=42,
                on_submit=lambda task: print(f"submitted task {task.id}"),
                on_update=show,  # type: ignore[arg-type]
            )
        sys.stderr.write("\n")
        path = image.save(Path(out_dir) / f"demo-{image.task_id}.{image.format}")
        width, height = image.to_pil().size
        print(
            f"{width}x{height} {image.format}, seed {image.seed}, {polls[0]} polls, "
            f"{time.monotonic() - started:.1f}s"
        )
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
