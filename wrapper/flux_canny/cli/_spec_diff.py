"""`spec-diff`: what changed between two OpenAPI documents, and what breaks."""

from __future__ import annotations

import json

import click
from rich.console import Console

from .._operations import operations
from .._schema_diff import Change
from ..specdiff import SpecDiff, diff_specs, load_document
from ._exit import EXIT_ERROR, BadInput
from ._progress import table_console

__all__ = ["by_operation", "lost_endpoints", "print_per_operation", "spec_diff"]


def _served() -> dict[str, str]:
    """This client's endpoints by operation ("POST /v1/flux-2-pro" → "flux-2-pro")."""
    return {f"{op.method.upper()} {op.path}": name for name, op in operations().items()}


def lost_endpoints(diff: SpecDiff) -> list[str]:
    """The endpoints this client serves whose operation the new document removes."""
    served = _served()
    removed = [op for c in diff.changes if c.kind == "operation-removed" for op in c.operations]
    return [served[op] for op in removed if op in served]


def by_operation(diff: SpecDiff) -> dict[str, list[Change]]:
    """Each operation's changes (a change to a shared schema under each it reaches),
    the operations with a breaking change first."""
    grouped: dict[str, list[Change]] = {}
    for change in diff.changes:
        for op in change.operations or ("(document)",):
            grouped.setdefault(op, []).append(change)
    return dict(sorted(grouped.items(), key=lambda kv: (not any(c.breaking for c in kv[1]), kv[0])))


def _detail(change: Change, served: dict[str, str]) -> str:
    said = f"{change.kind}: {change.detail}"
    lost = [served[op] for op in change.operations if op in served]
    if change.kind == "operation-removed" and lost:
        said += f"; this client would lose its endpoint {', '.join(lost)}"
    return said


def _groups(diff: SpecDiff) -> dict[tuple[str, ...], list[Change]]:
    """The changes by the operations they reach (a shared schema's change reaches all
    that use it, and is shown once, under all of them), breaking groups first."""
    grouped: dict[tuple[str, ...], list[Change]] = {}
    for change in diff.changes:
        grouped.setdefault(change.operations or ("(document)",), []).append(change)
    return dict(sorted(grouped.items(), key=lambda kv: (not any(c.breaking for c in kv[1]), kv[0])))


def print_per_operation(diff: SpecDiff, console: Console) -> None:
    """One paragraph per operation (or per set of operations a shared schema's changes
    reach), headed by the endpoints as this client names them: breaking ones first."""
    if not diff.changes:
        console.print("no changes", markup=False)
        return
    served = _served()
    for ops, changes in _groups(diff).items():
        breaking = sum(c.breaking for c in changes)
        names = ", ".join(served.get(op, op) for op in ops)  # an endpoint by its name
        header = f"{names}: {len(changes)} change(s), {breaking} breaking"
        console.print(header, markup=False, soft_wrap=True)  # whole on one line, as below
        for change in changes:  # one line each, never folded: grep finds it whole
            where = change.where + (f" [{change.schema}]" if change.schema else "")
            mark = "BREAKING" if change.breaking else "ok      "
            line = f"  {mark}  {_detail(change, served)}  ({where})"
            console.print(line, markup=False, soft_wrap=True)
    lost = lost_endpoints(diff)
    console.print(
        f"{len(diff.changes)} change(s), {len(diff.breaking)} breaking for a client of the "
        "old document" + (f"; this client would lose {', '.join(lost)}" if lost else ""),
        markup=False,
    )


def _json(diff: SpecDiff) -> str:
    """The library's report, with the changes grouped per operation and the endpoints
    this client would lose."""
    document = json.loads(diff.to_json())
    document["operations"] = {
        op: [c.to_dict() for c in changes] for op, changes in by_operation(diff).items()
    }
    document["client_loses"] = lost_endpoints(diff)
    return json.dumps(document, indent=2)


@click.command(
    "spec-diff",
    epilog="""\b
Examples:
  flux-canny spec-diff openapi.json new-openapi.json
  flux-canny spec-diff old.json new.json --json | jq '.changes[] | select(.breaking)'
  flux-canny spec-diff openapi.json https://api.bfl.ai/openapi.json
\b
Exit status: 0 when nothing breaks, 1 when a change breaks a client of OLD,
2 when a file cannot be read.""",
)
@click.argument("old")
@click.argument("new")
@click.option("--json", "as_json", is_flag=True, help="Print the changes as one JSON object.")
def spec_diff(old: str, new: str, as_json: bool) -> None:
    """List every change from OLD to NEW (two OpenAPI documents, files or https:// URLs),
    grouped per operation, and whether it breaks.

    $refs are resolved: a change inside a shared schema is listed under every operation
    it reaches. A removed operation names the endpoint this client would lose. Defaults
    and descriptions are reported too (defaults change results).
    """
    documents = []
    for path in (old, new):
        try:
            documents.append(load_document(path))
        except (OSError, ValueError) as error:
            raise BadInput(f"cannot read {path}: {error}") from None
    diff = diff_specs(documents[0], documents[1])
    if as_json:
        click.echo(_json(diff))
    else:
        print_per_operation(diff, table_console())
    if diff.has_breaking:
        raise SystemExit(EXIT_ERROR)
