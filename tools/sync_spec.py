"""`make sync-spec SPEC=path`: adopt BFL's newly published document in one step.

SPEC is BFL's document as published (a JSON file or an https:// URL), not openapi.json:
openapi.json is that document with the seed's operation added by spec/overlay.yaml.

1. checks that SPEC is a valid OpenAPI document and that the overlay still applies to it
   (nothing changes otherwise);
2. prints what changes in openapi.json, operation by operation, and what of it breaks;
3. replaces spec/upstream/bfl-openapi.json, rebuilds openapi.json (`make spec`) and
   regenerates generated/ and the packaged copy (`make generate`);
4. reruns the contract suite (tests/spec and tests/contract) against the new tree.

The tree is left as it stands for review (`git diff`); `git checkout -- .` undoes it.
Exit status: the suite's (0 passed, 1 failed), or 2 when SPEC is not usable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from build_spec import OUTPUT, UPSTREAM, OverlayError, build, load_overlay, render
from build_spec import validate_openapi as _validate_openapi
from flux_canny.cli._spec_diff import print_per_operation
from flux_canny.specdiff import diff_specs, load_document, read_text
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["tests/spec", "tests/contract"]


def _step(console: Console, text: str) -> None:
    console.print(f"\n== {text}", markup=False)


def _validate(text: str) -> dict[str, Any]:
    document = json.loads(text)
    if not isinstance(document, dict) or "paths" not in document:
        raise ValueError("no 'paths'")
    _validate_openapi(document)
    return document


def _adopt(source: str, text: str) -> None:
    """BFL's document becomes the upstream input, as published (a file's bytes unchanged)."""
    if source.startswith(("https://", "http://")):
        UPSTREAM.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    elif Path(source).resolve() != UPSTREAM.resolve():
        shutil.copyfile(source, UPSTREAM)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sync-spec", description=__doc__)
    parser.add_argument("spec", help="BFL's new OpenAPI document: a JSON file or an https:// URL")
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=120)
    try:
        text = read_text(args.spec)
        upstream = _validate(text)
    except Exception as error:  # any reason the document is unusable
        console.print(f"sync-spec: {args.spec} is not a usable OpenAPI document: {error}")
        return 2
    try:
        built = build(upstream, load_overlay())
    except (OverlayError, ValueError) as error:
        console.print(f"sync-spec: spec/overlay.yaml does not apply to {args.spec}: {error}")
        return 2

    _step(console, f"spec diff: {OUTPUT.name} → {args.spec} + spec/overlay.yaml")
    diff = diff_specs(load_document(OUTPUT), built)
    print_per_operation(diff, console)

    _step(console, f"replacing {UPSTREAM.relative_to(ROOT)}, rebuilding openapi.json, regenerating")
    _adopt(args.spec, text)
    OUTPUT.write_text(render(built), encoding="utf-8")
    venv = Path(sys.executable).parent.parent
    subprocess.run(["make", "-s", "generate", f"VENV={venv}"], cwd=ROOT, check=True)
    if (ROOT / ".git").exists():
        subprocess.run(
            ["git", "--no-pager", "diff", "--stat", "--", "spec", "generated", "openapi.json"],
            cwd=ROOT,
            check=False,
        )

    _step(console, f"contract suite: {' '.join(SUITE)}")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "wrapper"), str(ROOT / "generated")]),
    }
    suite = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--hypothesis-profile=ci", *SUITE],
        cwd=ROOT,
        env=env,
        check=False,
    )
    verdict = "passed" if suite.returncode == 0 else "FAILED"
    breaking = (
        f"{len(diff.breaking)} breaking change(s)" if diff.has_breaking else "no breaking changes"
    )
    _step(console, f"summary: {breaking}; contract suite {verdict}")
    console.print("review with `git diff`; undo with `git checkout -- .`", markup=False)
    console.print(
        json.dumps({"breaking": len(diff.breaking), "suite_passed": suite.returncode == 0}),
        markup=False,
    )
    return 0 if suite.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
