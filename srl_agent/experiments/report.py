"""The comparison's table (Markdown) and plot (PNG; needs matplotlib) from its results.json content."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LABELS = {"base": "base", "sft": "SFT", "srl": "SRL", "srl_rlvr": "SRL→RLVR", "rlvr": "RLVR"}


def table(summary: dict[str, Any]) -> str:
    lines = [
        f"model `{summary['model']}`, scale `{summary['scale']}`, budget {summary['budget_iterations']} training iterations per arm",
        "",
        "| method | held-out tasks resolved | executed step equivalence (95% CI) | turn limit | SRL step reward (reference) | format errors | similarity when well-formed | updates | sampled tokens | trained tokens | train wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, r in summary["arms"].items():
        lo, hi = r["step_equivalence_ci"]
        lines.append(
            f"| {LABELS.get(arm, arm)} | {r['resolved']}/{r['tasks']} ({100 * r['resolution_rate']:.1f}%)"
            f"{' + ' + str(r['eval_errors']) + ' infra errors' if r['eval_errors'] else ''} | "
            f"{100 * r['step_equivalence']:.0f}% of {r['step_states']} ({100 * lo:.0f}–{100 * hi:.0f}%) | "
            f"{r['eval_max_new_tokens']} | {r['reward_mean']:.3f} | "
            f"{100 * r['format_error_rate']:.0f}% | {r['similarity_mean_when_well_formed']:.3f} | {r['optimizer_updates']} | {r['sampled_tokens']:,} | "
            f"{r['trained_tokens']:,} | {r['wall_s']:.0f} |")
    return "\n".join(lines) + "\n"


def plot(summary: dict[str, Any], out: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None  # the table is the result; the plot is optional (pip install matplotlib)
    arms = list(summary["arms"])
    names = [LABELS.get(a, a) for a in arms]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    bars = left.bar(names, [100 * summary["arms"][a]["resolution_rate"] for a in arms], color="tab:blue")
    left.bar_label(bars, [f"{summary['arms'][a]['resolved']}/{summary['arms'][a]['tasks']}" for a in arms])
    left.set_ylabel("held-out tasks resolved (%)")
    left.set_ylim(0, 100)
    bars = right.bar(names, [summary["arms"][a]["reward_mean"] for a in arms], color="tab:orange")
    right.bar_label(bars, [f"{summary['arms'][a]['reward_mean']:.2f}" for a in arms])
    right.axhline(0, color="black", lw=0.8)
    right.set_ylabel("mean SRL reward, held-out steps\n(-1 malformed, 0..1 similarity)")
    right.set_ylim(-1, 1)
    fig.suptitle(f"{summary['model']} ({summary['scale']}), {summary['budget_iterations']} iterations per arm", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def write_report(summary: dict[str, Any], stem: Path) -> None:
    """STEM.md (table + the commands), STEM.json, STEM.png."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    repo = str(Path(__file__).resolve().parents[2]) + "/"
    summary = {**summary, "commands": [c.replace(repo, "") for c in summary.get("commands", [])]}  # repo-relative
    commands = "\n".join(summary["commands"])
    stem.with_suffix(".md").write_text(table(summary) + f"\nCommands run:\n\n```\n{commands}\n```\n", encoding="utf-8")
    stem.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    plot(summary, stem.with_suffix(".png"))
