"""metrics.jsonl (one row per step), samples.jsonl (completions for the replay viewer), optional TensorBoard / W&B."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError


def _truncate_after(path: Path, step: int) -> None:
    """On resume, drop rows logged after the checkpoint (the resumed run logs those steps again)."""
    if not path.exists():
        return
    rows = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip() and json.loads(line).get("step", 0) <= step]
    path.write_text("".join(r + "\n" for r in rows), encoding="utf-8")


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


class MetricsLogger:
    def __init__(self, output: Path, start_step: int, enabled: bool = True, tensorboard: bool = False, wandb: bool = False,
                 config: dict[str, Any] | None = None):
        self.enabled = enabled
        self.metrics_path = output / "metrics.jsonl"
        self.samples_path = output / "samples.jsonl"
        self._tb = self._wandb = None
        if not enabled:
            return
        for path in (self.metrics_path, self.samples_path):
            _truncate_after(path, start_step)
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError as e:
                raise UserError("tensorboard=true needs `pip install tensorboard`") from e
            self._tb = SummaryWriter(str(output / "tensorboard"))
        if wandb:
            try:
                import wandb as wandb_module
            except ImportError as e:
                raise UserError("wandb=true needs `pip install wandb` (and `wandb login`)") from e
            self._wandb = wandb_module.init(project="srl-agent", config=config, dir=str(output))

    def log(self, step: int, metrics: dict[str, Any], samples: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
        if not self.enabled:
            return
        row = {"step": step, **{k: (round(v, 6) if isinstance(v, float) else v) for k, v in metrics.items()}}
        with self.metrics_path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
        if samples:
            with self.samples_path.open("a", encoding="utf-8") as f:
                for s in samples:
                    f.write(json.dumps(s, ensure_ascii=False) + "\n")
        numeric = {k: v for k, v in metrics.items() if isinstance(v, int | float)}
        if self._tb is not None:
            for k, v in numeric.items():
                self._tb.add_scalar(k, v, step)
        if self._wandb is not None:
            self._wandb.log(numeric, step=step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._wandb is not None:
            self._wandb.finish()
