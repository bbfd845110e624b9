"""`make demo`: a whole generation through the `flux-canny` command, against the fake.

No key, no internet: starts the fake API on 127.0.0.1, then runs `flux-canny generate`
on the shipped control image, as a user would type it, with its progress bar. The image
lands under out/ and its path is printed last. The demo's task journal stays under
out/ too, so fake tasks never mix with the user's real ones.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

from .fake import FakeBFL, FakeServer


def main(out_dir: str = "out") -> int:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = resources.files("flux_canny").joinpath("samples/castle-control.png")
    control = out / "castle-control.png"
    control.write_bytes(sample.read_bytes())
    target = out / f"demo-{time.strftime('%Y%m%d-%H%M%S')}.png"
    with FakeServer(FakeBFL(task_duration=3.0)) as server:
        print(f"fake BFL API on {server.base_url} (images served from {server.fake.delivery_base})")
        env = {
            **os.environ,
            "BFL_API_KEY": "test-key",
            "BFL_BASE_URL": server.base_url,
            "FLUX_CANNY_STATE_DIR": str(out / ".flux-canny-state"),
        }
        words = ["generate", str(control), "--prompt", "a watercolour castle at dusk"]
        words += ["--finetune-id", "my-finetune", "--canny-low-threshold", "50"]
        words += ["--canny-high-threshold", "200", "--seed", "42", "-o", str(target)]
        print(f"$ flux-canny {shlex.join(words)}", flush=True)
        command = [sys.executable, "-m", "flux_canny.cli", *words]
        return subprocess.run(command, env=env, check=False).returncode  # noqa: S603 (our own CLI)


if __name__ == "__main__":
    sys.exit(main())
