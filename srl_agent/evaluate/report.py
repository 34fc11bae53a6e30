"""The run report (report.json, with the fields of swebench's run report) and the summary table printed at the end.

Outcomes, one per instance: resolved, unresolved (graded, not resolved; includes patches that do not apply, which
swebench's harness counts as errors), empty_patch (nothing to grade), error (infrastructure: image missing, container
died, tests timed out; no verdict), incomplete (not run yet).
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Any

from srl_agent.episodes import Episode

OUTCOMES = ("resolved", "unresolved", "empty_patch", "error", "incomplete")
PHASES = ("start_s", "agent_s", "grade_s", "total_s")


def outcome(episode: Episode | None) -> str:
    if episode is None:
        return "incomplete"
    if episode.error is not None:
        return "error"
    if not episode.submission.strip():
        return "empty_patch"
    return "resolved" if episode.resolved else "unresolved"


def has_prediction(episode: Episode) -> bool:
    """The agent phase finished (an infrastructure error while grading still leaves a valid prediction)."""
    return episode.metadata.get("error_phase") != "agent"


def build_report(instance_ids: Sequence[str], episodes: dict[str, Episode], run: dict[str, Any]) -> dict[str, Any]:
    """report.json: swebench's run-report fields over `instance_ids`, then our extras (rate, reasons, timing)."""
    by: dict[str, list[str]] = {o: [] for o in OUTCOMES}
    for iid in instance_ids:
        by[outcome(episodes.get(iid))].append(iid)
    done = [episodes[i] for i in instance_ids if i in episodes]
    submitted = sorted(e.instance_id for e in done if has_prediction(e))
    total = len(instance_ids)
    return {
        "total_instances": total,
        "submitted_instances": len(submitted),
        "completed_instances": len(by["resolved"]) + len(by["unresolved"]),
        "resolved_instances": len(by["resolved"]),
        "unresolved_instances": len(by["unresolved"]),
        "empty_patch_instances": len(by["empty_patch"]),
        "error_instances": len(by["error"]),
        "completed_ids": sorted(by["resolved"] + by["unresolved"]),
        "incomplete_ids": sorted(by["incomplete"]),
        "empty_patch_ids": sorted(by["empty_patch"]),
        "submitted_ids": submitted,
        "resolved_ids": sorted(by["resolved"]),
        "unresolved_ids": sorted(by["unresolved"]),
        "error_ids": sorted(by["error"]),
        "schema_version": 2,
        # -- srl-agent extras
        "resolution_rate": len(by["resolved"]) / total if total else 0.0,
        "error_reasons": {e.instance_id: e.error for e in done if e.error},
        "patch_apply_failed_ids": sorted(e.instance_id for e in done if e.grade.get("patch_applied") is False
                                         and e.error is None and e.submission.strip()),
        "stop_reasons": dict(Counter(e.stop_reason for e in done)),
        "timing": timing(done, run),
        "run": run,
    }


def timing(episodes: Sequence[Episode], run: dict[str, Any]) -> dict[str, Any]:
    """Per-phase wall clock over the instances (seconds): start = image + container + checkout, agent = the turns,
    grade = fresh container + patch + tests."""
    out: dict[str, Any] = {}
    for phase in PHASES:
        values = [e.metadata["timing"][phase] for e in episodes if phase in e.metadata.get("timing", {})]
        if values:
            out[phase] = {"mean": round(statistics.fmean(values), 3), "p50": round(statistics.median(values), 3),
                          "max": round(max(values), 3), "sum": round(sum(values), 3)}
    turns = [len(e.turns) for e in episodes]
    gen = [t.generate_s for e in episodes for t in e.turns]
    exe = [t.execute_s for e in episodes for t in e.turns]
    out["turns"] = {"total": sum(turns), "mean": round(statistics.fmean(turns), 2) if turns else 0.0}
    out["generate_s_total"], out["execute_s_total"] = round(sum(gen), 3), round(sum(exe), 3)
    return out


def summary(report: dict[str, Any], episodes: dict[str, Episode], instance_ids: Sequence[str]) -> str:
    """The table printed at the end of a run, one row per instance, then the totals."""
    rows = [("instance", "outcome", "stop", "turns", "patch", "start", "agent", "grade")]
    for iid in instance_ids:
        e = episodes.get(iid)
        if e is None:
            rows.append((iid, "incomplete", "", "", "", "", "", ""))
            continue
        t = e.metadata.get("timing", {})
        plus = sum(1 for line in e.submission.splitlines() if line.startswith("+") and not line.startswith("+++"))
        minus = sum(1 for line in e.submission.splitlines() if line.startswith("-") and not line.startswith("---"))
        rows.append((iid, outcome(e), e.stop_reason, str(len(e.turns)), f"+{plus}-{minus}" if e.submission else "-",
                     *(f"{t[p]:.1f}s" if p in t else "-" for p in ("start_s", "agent_s", "grade_s"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    r = report
    lines.append(
        f"resolved {r['resolved_instances']}/{r['total_instances']} ({100 * r['resolution_rate']:.1f}%) · "
        f"unresolved {r['unresolved_instances']} · empty patch {r['empty_patch_instances']} · "
        f"errors {r['error_instances']} (infrastructure, not counted as unresolved)"
        + (f" · incomplete {len(r['incomplete_ids'])}" if r["incomplete_ids"] else "")
    )
    for iid, reason in r["error_reasons"].items():
        lines.append(f"  error {iid}: {reason}")
    return "\n".join(lines)
