"""`srl-agent eval --runs N`: the same sampled policy N times with seeds SEED..SEED+N-1, and what the spread says.

    OUTPUT/run-<k>/         a whole run (episodes, preds, logs, report.json) with seed SEED+k, resumable
    OUTPUT/report.json      the statistics below, plus every run's report fields; OUTPUT/runs.json the per-run rates

Statistics (`repeat_stats`), over the instances i = 1..M with c_i resolved runs out of n:
    rate_k        resolved / M in run k (SWE-bench's rate: errors count as not resolved)
    mean, std     over the n runs (std with n - 1)
    CI            95% bootstrap interval of the mean rate: resample the M instances with replacement B times and take
                  the mean over them of c_i / n. The instances are the main source of variance on a small bench; the
                  runs' own sampling noise enters through c_i / n.
    pass@k        the unbiased estimator of Chen et al. (2021): mean over i of 1 - C(n - c_i, k) / C(n, k), k = 1..n
"""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping, Sequence
from math import comb
from typing import Any

from srl_agent.env.task import Task

BOOTSTRAP_SAMPLES = 10_000
CONFIDENCE = 0.95


def pass_at_k(n: int, c: int, k: int) -> float:
    """P(at least one of k runs drawn without replacement from the n resolves), given c of n did."""
    if n - c < k:
        return 1.0
    return 1.0 - comb(n - c, k) / comb(n, k)


def bootstrap_ci(fractions: Sequence[float], samples: int = BOOTSTRAP_SAMPLES, confidence: float = CONFIDENCE,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap of the mean of `fractions` (one per instance), resampling instances."""
    if not fractions:
        return (0.0, 0.0)
    rng = random.Random(seed)
    m = len(fractions)
    means = sorted(sum(fractions[rng.randrange(m)] for _ in range(m)) / m for _ in range(samples))
    tail = (1.0 - confidence) / 2
    return (means[int(tail * (samples - 1))], means[int(round((1.0 - tail) * (samples - 1)))])


def repeat_stats(resolved_by_run: Sequence[Mapping[str, bool]], instance_ids: Sequence[str]) -> dict[str, Any]:
    """The statistics of the module docstring from each run's instance id -> resolved."""
    import statistics

    n, m = len(resolved_by_run), len(instance_ids)
    counts = {iid: sum(bool(run.get(iid)) for run in resolved_by_run) for iid in instance_ids}
    rates = [sum(bool(run.get(iid)) for iid in instance_ids) / m if m else 0.0 for run in resolved_by_run]
    low, high = bootstrap_ci([counts[i] / n for i in instance_ids])
    return {
        "runs": n,
        "instances": m,
        "resolution_rate": {"mean": statistics.fmean(rates) if rates else 0.0,
                            "std": statistics.stdev(rates) if n > 1 else 0.0,
                            "ci95": [low, high], "per_run": rates, "min": min(rates), "max": max(rates)},
        "pass_at_k": {str(k): sum(pass_at_k(n, c, k) for c in counts.values()) / m if m else 0.0
                      for k in range(1, n + 1)},
        "resolved_runs": dict(sorted(counts.items())),
        "bootstrap": {"samples": BOOTSTRAP_SAMPLES, "confidence": CONFIDENCE, "resampled": "instances"},
    }


def run_repeated(config: Any, policy: Any, tasks: list[Task], runs: int, seed: int,
                 self_check: bool = False) -> dict[str, Any]:
    """Run `policy` `runs` times (run k: seed `seed + k`, its own folder and run id), then write the statistics with
    the harness self-check of the tasks and images (srl_agent.evaluate.selfcheck; the runs share them)."""
    from srl_agent.evaluate.runner import run_eval
    from srl_agent.evaluate.selfcheck import attach_harness_check

    reports, configs = [], []
    for k in range(runs):
        policy.reseed(seed + k)
        name = f"run-{k}"
        sub = dataclasses.replace(config, output=config.output / name, seed=seed + k,
                                  run_id=f"{config.resolved_run_id}.{name}")
        print(f"--runs: run {k + 1}/{runs} (seed {seed + k}) -> {sub.output}")
        reports.append(run_eval(sub, policy, tasks))
        configs.append(sub)
    check = attach_harness_check(reports[0], configs[0], policy, tasks, run_gold=self_check)["harness_check"]
    ids = [t.instance_id for t in tasks]
    stats = repeat_stats([{iid: iid in r["resolved_ids"] for iid in ids} for r in reports], ids)
    error_ids = sorted({iid for r in reports for iid in r["error_ids"]})
    incomplete = sorted({iid for r in reports for iid in r["incomplete_ids"]})
    report = {**stats, "seeds": [seed + k for k in range(runs)], "error_ids": error_ids, "incomplete_ids": incomplete,
              "run_reports": [str(config.output / f"run-{k}" / "report.json") for k in range(runs)],
              "harness_check": check}
    config.output.mkdir(parents=True, exist_ok=True)
    (config.output / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(summary(report))
    return report


def summary(report: dict[str, Any]) -> str:
    r = report["resolution_rate"]
    lines = [f"{report['runs']} runs × {report['instances']} instances: resolved {100 * r['mean']:.1f}% "
             f"(95% CI {100 * r['ci95'][0]:.1f}–{100 * r['ci95'][1]:.1f}, std {100 * r['std']:.1f} points; per run "
             + ", ".join(f"{100 * x:.1f}" for x in r["per_run"]) + ")",
             "pass@k: " + ", ".join(f"@{k} {100 * v:.1f}%" for k, v in report["pass_at_k"].items())]
    if report["error_ids"]:
        lines.append(f"infrastructure errors in some run: {', '.join(report['error_ids'])} (see each run's report)")
    return "\n".join(lines)
