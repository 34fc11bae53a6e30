"""`srl-agent perf eval`: wall clock of `srl-agent eval` on swe-mini at 1, 2, 4… workers, split into image/start,
agent turns and grading, and the worker count where more parallelism stops paying (this machine's saturation)."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def _cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole host from /proc/stat: containers' CPU counts too (it is not ours)."""
    fields = [float(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)  # idle + iowait
    return sum(fields) - idle, sum(fields)


def run_eval_bench(policy_name: str = "expert", workers: tuple[int, ...] = (1, 2, 4), gain: float = 0.10) -> dict[str, Any]:
    from srl_agent.agent.policies import ExpertPolicy, GoldPolicy
    from srl_agent.evaluate.runner import EvalConfig, run_eval
    from srl_agent.swe_mini.images import ensure_images
    from srl_agent.tasksets import sandboxes, select_tasks

    ensure_images()  # built once, outside the timings (a first run also pays the builds, in start_s)
    if policy_name == "expert":
        policy, split = ExpertPolicy.from_file(str(REPO / "trajectories" / "swe_mini.jsonl")), "train"
    else:
        policy, split = GoldPolicy(), "all"
    runs = []
    with tempfile.TemporaryDirectory(prefix="srl-bench-eval-") as tmp:
        for n in workers:
            config = EvalConfig(output=Path(tmp) / f"w{n}", sandboxes=sandboxes("swe-mini"), split=split, workers=n,
                                progress=False, print_summary=False)
            busy0, total0 = _cpu_times()
            t0 = time.monotonic()
            report = run_eval(config, policy, select_tasks(config))
            wall = time.monotonic() - t0
            busy1, total1 = _cpu_times()
            timing = report["timing"]
            runs.append({
                "workers": n,
                "instances": report["total_instances"],
                "resolved": report["resolved_instances"],
                "wall_s": round(wall, 2),
                "instances_per_min": round(60 * report["total_instances"] / wall, 2),
                "host_cpu_busy": round((busy1 - busy0) / max(total1 - total0, 1), 3),
                "mean_start_s": timing["start_s"]["mean"],
                "mean_agent_s": timing["agent_s"]["mean"],
                "mean_grade_s": timing.get("grade_s", {}).get("mean"),
                "mean_total_s": timing["total_s"]["mean"],
                "turns": timing["turns"]["total"],
            })
    base = runs[0]["wall_s"]
    for r in runs:
        r["speedup"] = round(base / r["wall_s"], 2)
    # Saturated: the next step up in workers gains less than `gain` in throughput.
    saturates = next((a["workers"] for a, b in zip(runs, runs[1:], strict=False)
                      if b["instances_per_min"] < a["instances_per_min"] * (1 + gain)), runs[-1]["workers"])
    return {"policy": policy_name, "bench": f"swe-mini ({split})", "cpu_count": os.cpu_count(), "runs": runs,
            "saturating_workers": saturates, "saturation_rule": f"next worker count gains < {gain:.0%} throughput"}
