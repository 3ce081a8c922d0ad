"""Text rendering of a plan for ``gitkube diff`` (and the post-receive hook's stream).

Per changed object a header (``~ update Deployment.apps default/web  (apps/web.yaml:1:1)``) and its
unified diff; then a summary table of the creates, updates and deletes in the order the sync
carries them out (action, object, wave, source); then objects the prune skips, the problems, and
the totals line ``Plan: 2 to create, 1 to update, 1 to delete, 40 unchanged``. ``render_capacity``
prints the quota projection (used, after the sync, at the rollout peak, hard) per namespace. With ``color``,
plain ANSI escapes (green additions, red removals, cyan hunk headers, bold headers).
Deterministic: the same plan always renders to the same text. Pure.
"""

from __future__ import annotations

from gitkube.plan.capacity import CapacityReport
from gitkube.plan.model import Change, Plan

__all__ = ["render_capacity", "render_text", "totals_line"]

_RESET = "\033[0m"
_BOLD = "\033[1m"
_RED = "\033[31m"
_GREEN = "\033[32m"
_YELLOW = "\033[33m"
_CYAN = "\033[36m"
_SIGIL = {"create": "+", "update": "~", "delete": "-"}
_HEADER_COLOR = {"create": _GREEN, "update": _YELLOW, "delete": _RED}


def _paint(text: str, code: str, color: bool) -> str:
    return f"{code}{text}{_RESET}" if color and text else text


def _header(change: Change, color: bool) -> str:
    where = f"  ({change.source})" if change.source else ""
    text = f"{_SIGIL[change.action]} {change.action} {change.key}{where}"
    return _paint(text, _BOLD + _HEADER_COLOR[change.action], color)


def _diff_lines(diff: str, color: bool) -> list[str]:
    out = []
    for line in diff.splitlines():
        if line.startswith(("+++", "---")):
            out.append(_paint(line, _BOLD, color))
        elif line.startswith("+"):
            out.append(_paint(line, _GREEN, color))
        elif line.startswith("-"):
            out.append(_paint(line, _RED, color))
        elif line.startswith("@@"):
            out.append(_paint(line, _CYAN, color))
        else:
            out.append(line)
    return out


def totals_line(plan: Plan) -> str:
    n = plan.counts()
    return (f"Plan: {n['create']} to create, {n['update']} to update, {n['delete']} to delete, "
            f"{n['unchanged']} unchanged")


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    head = ("ACTION", "OBJECT", "WAVE", "SOURCE")
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(4)]
    return ["  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip() for row in (head, *rows)]


def render_text(plan: Plan, *, color: bool) -> str:
    """The whole plan as text, ending with a newline."""
    lines: list[str] = []
    changed = [c for c in plan.changes if c.action != "unchanged"] + list(plan.prune)
    for change in changed:
        lines.append(_header(change, color))
        lines.extend(_diff_lines(change.diff, color))
        lines.append("")
    if changed:
        rows = [(c.action, str(c.key), str(c.wave) if c.action != "delete" else f"prune {c.wave}",
                 c.source or "") for c in changed]
        lines.extend(_table(rows))
        lines.append("")
    for key, why in plan.skipped_prune:
        lines.append(f"not pruned: {key}: {why}")
    if plan.skipped_prune:
        lines.append("")
    for problem in plan.problems:
        lines.append(_paint(f"problem: {problem}", _RED, color))
    if plan.problems:
        lines.append("")
    total = totals_line(plan)
    lines.append(total if not plan.in_sync else f"{total} (in sync)")
    return "\n".join(lines) + "\n"


def render_brief(plan: Plan, *, limit: int = 50) -> str:
    """:func:`render_text` for plans of up to ``limit`` changed objects; for larger ones the totals
    and the count per kind and action only (a push of 10,000 new objects should not stream
    10,000 diffs to the pusher's terminal; ``gitkube diff`` shows them all)."""
    changed = [c for c in (*plan.changes, *plan.prune) if c.action != "unchanged"]
    if len(changed) <= limit:
        return render_text(plan, color=False)
    per_kind: dict[tuple[str, str], int] = {}
    for change in changed:
        per_kind[(change.action, change.key.group_kind)] = per_kind.get((change.action, change.key.group_kind), 0) + 1
    lines = [f"{count:>6} to {action} {kind}" for (action, kind), count in sorted(per_kind.items())]
    lines.append(f"({len(changed)} objects change: `gitkube diff` shows each one)")
    lines.append(totals_line(plan))
    return "\n".join(lines) + "\n"


def render_capacity(report: CapacityReport, *, color: bool) -> str:
    """The quota table of ``gitkube diff``: per namespace and quota, each resource's use now, after
    the sync, at the rollout's peak and the hard limit; exceeded rows in red."""
    lines: list[str] = []
    for p in report.quotas:
        changed = [r for r in sorted(p.hard) if p.rest.get(r) != p.now.get(r) or p.peak.get(r) != p.now.get(r)]
        if not changed:
            continue
        lines.append(f"quota {p.namespace}/{p.name}:")
        rows = [("  resource", "used", "after", "peak", "hard")]
        rows += [(f"  {r}", str(p.now.get(r, 0)), str(p.rest.get(r, 0)), str(p.peak.get(r, 0)), str(p.hard[r]))
                 for r in changed]
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        for i, row in enumerate(rows):
            text = "  ".join(cell.ljust(widths[j]) for j, cell in enumerate(row)).rstrip()
            over = i > 0 and row[0].strip() in p.exceeded
            lines.append(_paint(text + ("  exceeded" if over else ""), _RED, color and over))
    for warning in report.warnings:
        lines.append(f"warning: {warning}")
    return "".join(f"{line}\n" for line in lines)
