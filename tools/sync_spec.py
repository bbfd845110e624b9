"""`make sync-spec SPEC=path`: adopt a newly published spec in one step.

1. checks that SPEC is a valid OpenAPI document (nothing changes otherwise);
2. prints what changed from the current openapi.json, and what of it breaks;
3. replaces openapi.json and regenerates generated/ and the packaged copy;
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

from flux_canny.cli._spec_diff import print_diff
from flux_canny.specdiff import diff_specs, load_document
from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
SUITE = ["tests/spec", "tests/contract"]


def _step(console: Console, text: str) -> None:
    console.print(f"\n== {text}", markup=False)


def _validate(path: str) -> dict[str, object]:
    document = dict(load_document(path))
    try:
        from openapi_spec_validator import validate
    except ImportError:  # only the dev extra has it; the generator will still complain
        return document
    validate(document)
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make sync-spec", description=__doc__)
    parser.add_argument("spec", help="the new OpenAPI document: a JSON file or an https:// URL")
    args = parser.parse_args(argv)
    console = Console(highlight=False, width=120)
    current = ROOT / "openapi.json"
    try:
        new = _validate(args.spec)
    except Exception as error:  # any reason the document is unusable
        console.print(f"sync-spec: {args.spec} is not a usable OpenAPI document: {error}")
        return 2

    _step(console, f"spec diff: {current.name} → {args.spec}")
    diff = diff_specs(load_document(current), new)
    print_diff(diff, console)

    _step(console, "replacing openapi.json and regenerating generated/")
    if args.spec.startswith(("https://", "http://")):
        current.write_text(json.dumps(new, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    elif Path(args.spec).resolve() != current.resolve():
        shutil.copyfile(args.spec, current)
    venv = Path(sys.executable).parent.parent
    subprocess.run(["make", "-s", "generate", f"VENV={venv}"], cwd=ROOT, check=True)
    if (ROOT / ".git").exists():
        subprocess.run(
            ["git", "--no-pager", "diff", "--stat", "--", "generated", "openapi.json"],
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
