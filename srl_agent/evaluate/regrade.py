"""Re-grade existing test logs (`srl-agent eval --regrade-logs DIR`) without running anything.

DIR holds one folder per instance with its `test_output.txt`, at any depth: swebench's
`logs/run_evaluation/<run_id>/<model>/<instance_id>/` and SWE-smith's `<run>/<instance_id>/` both work. Each log is
graded with `srl_agent.env.grade_log` under the chosen harness's semantics and written in that harness's form:

    swebench   OUTPUT/<id>/report.json = {id: report}; OUTPUT/report.json = the run-report fields (report.py)
    swesmith   OUTPUT/<id>/report.json = report + model_name_or_path (SWE-smith's flat form);
               OUTPUT/report.json = {resolved, unresolved, total, ids_resolved, ids_unresolved} (SWE-smith's form)

A report.json already beside a log is never read for grading; it is only compared at the end ("identical": the
regraded report equals it as JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.env.task import Task
from srl_agent.errors import UserError
from srl_agent.evaluate.predictions import Prediction

HARNESSES = ("swebench", "swesmith")


@dataclass(frozen=True, slots=True)
class Regraded:
    instance_id: str
    report: dict[str, Any]  # the per-instance report.json content, in the harness's form
    resolved: bool
    identical_to_existing: bool | None  # None when no report.json was beside the log


def find_logs(root: Path) -> dict[str, Path]:
    """instance id (the log's folder name) -> test_output.txt."""
    logs = {p.parent.name: p for p in sorted(root.rglob("test_output.txt"))}
    if not logs:
        raise UserError(f"no test_output.txt under {root}: expected DIR/<instance_id>/test_output.txt")
    return logs


def regrade_logs(root: Path, tasks: list[Task], output: Path, *, harness: str = "swebench",
                 predictions: dict[str, Prediction] | None = None, model_name: str | None = None) -> list[Regraded]:
    """Grade every log under `root` against its task (F2P/P2P lists from `tasks`), write the reports to `output`.

    The model patch (whose presence the report records) comes from `predictions`; without one it is taken as present.
    """
    from srl_agent.env.grading import grade_log

    if harness not in HARNESSES:
        raise UserError(f"--harness must be one of {HARNESSES}, got {harness!r}")
    by_id = {t.instance_id: t for t in tasks}
    logs = find_logs(root)
    missing = [iid for iid in logs if iid not in by_id]
    if missing:
        raise UserError(f"no task for {len(missing)} log(s) ({', '.join(missing[:3])}): pass the tasks they were run "
                        "on with --bench FILE (their FAIL_TO_PASS / PASS_TO_PASS lists grade the log)")
    results = []
    for iid, log_path in logs.items():
        prediction = (predictions or {}).get(iid)
        patch = prediction.model_patch if prediction else "-"
        name = model_name or (prediction.model_name_or_path if prediction else "unknown")
        report = grade_log(by_id[iid], log_path.read_text(encoding="utf-8", errors="surrogateescape"),
                           model_patch=patch, harness=harness)  # type: ignore[arg-type]
        content = {**report, "model_name_or_path": name} if harness == "swesmith" else {iid: report}
        existing = log_path.parent / "report.json"
        same = json.loads(existing.read_text()) == content if existing.is_file() else None
        (output / iid).mkdir(parents=True, exist_ok=True)
        (output / iid / "report.json").write_text(json.dumps(content, indent=4) + "\n", encoding="utf-8")
        results.append(Regraded(iid, content, bool(report.get("resolved")), same))
    (output / "report.json").write_text(json.dumps(run_report(results, harness), indent=4) + "\n", encoding="utf-8")
    return results


def run_report(results: list[Regraded], harness: str) -> dict[str, Any]:
    resolved = [r.instance_id for r in results if r.resolved]
    unresolved = [r.instance_id for r in results if not r.resolved]
    if harness == "swesmith":
        return {"resolved": len(resolved), "unresolved": len(unresolved), "total": len(results),
                "ids_resolved": resolved, "ids_unresolved": unresolved}
    return {"total_instances": len(results), "completed_instances": len(results),
            "resolved_instances": len(resolved), "unresolved_instances": len(unresolved),
            "resolved_ids": sorted(resolved), "unresolved_ids": sorted(unresolved), "schema_version": 2}


def summary(results: list[Regraded]) -> str:
    lines = [f"{r.instance_id}  {'resolved' if r.resolved else 'unresolved'}"
             + {None: "", True: "  (identical to the existing report.json)",
                False: "  (DIFFERS from the existing report.json)"}[r.identical_to_existing] for r in results]
    compared = [r for r in results if r.identical_to_existing is not None]
    lines.append(f"regraded {len(results)} log(s): {sum(r.resolved for r in results)} resolved"
                 + (f"; {sum(bool(r.identical_to_existing) for r in compared)}/{len(compared)} identical to the "
                    "report.json beside the log" if compared else ""))
    if any(r.identical_to_existing is False for r in results):
        lines.append("a report differs: does --harness (swebench | swesmith) name the harness that wrote these logs?")
    return "\n".join(lines)
