"""Plot a run's reward curves to PNG (needs matplotlib, an optional dependency):

    python -m srl_agent.train.plot RUN_DIR OUT.png
"""

from __future__ import annotations

import sys
from pathlib import Path

from srl_agent.errors import UserError
from srl_agent.train.metrics import read_jsonl


def plot_run(run: Path, out: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise UserError("plotting needs matplotlib: pip install matplotlib") from e
    metrics = read_jsonl(run / "metrics.jsonl")
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot([r["step"] for r in metrics], [r["reward_mean"] for r in metrics], alpha=0.4, label="batch mean reward (all samples)")
    if (run / "eval.jsonl").exists():
        evals = read_jsonl(run / "eval.jsonl")
        ax.plot([r["step"] for r in evals], [r["reward_mean"] for r in evals], "o-", label="eval mean reward (fixed prompts, seed)")
        ax.plot([r["step"] for r in evals], [1 - 2 * r["format_error_rate"] for r in evals], "s--", alpha=0.6,
                label="1 - 2 x format-error rate (eval)")
    ax.set_xlabel("SRL step (after the SFT warm start)")
    ax.set_ylabel("SRL reward (-1 = malformed, 0..1 = similarity)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(plot_run(Path(sys.argv[1]), Path(sys.argv[2])))
