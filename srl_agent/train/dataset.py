"""Training prompts: trajectories (or already converted instances) -> tokenised SRL instances, and a resumable sampler."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from srl_agent.answer import encode_prompt
from srl_agent.data.instances import DropReport, SRLInstance
from srl_agent.errors import UserError


@dataclass(frozen=True, slots=True)
class TrainPrompt:
    instance: SRLInstance
    prompt_ids: tuple[int, ...]  # the chat-templated prompt, ending with the assistant header


def _is_instance_file(path: Path) -> bool:
    """A JSONL or Parquet file written by `srl-agent data convert` (rows with prompt + expert_action) rather than
    trajectories."""
    if not path.is_file():
        return False
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return {"prompt", "expert_action"} <= set(pq.read_schema(path).names)
    if path.suffix != ".jsonl":
        return False
    with path.open(encoding="utf-8", errors="replace") as f:  # not text: not an instance file (the reader says why)
        first = next((line for line in f if line.strip()), "")
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and "expert_action" in row and "prompt" in row


def load_instances(sources: list[str], cfg: Any) -> tuple[list[SRLInstance], DropReport]:
    from srl_agent.data.instances import ConvertConfig, build_instances, read_instances

    report = DropReport()
    instances: list[SRLInstance] = []
    trajectory_sources = []
    for source in sources:
        if _is_instance_file(Path(source)):
            converted = list(read_instances(source))
            check_prompt_settings(converted, source, cfg)
            instances += converted
        else:
            trajectory_sources.append(source)
    if trajectory_sources:
        from srl_agent.readers import read_trajectories

        convert = ConvertConfig(prompt=cfg.prompt, only_resolved=cfg.only_resolved)
        instances += list(build_instances(read_trajectories(trajectory_sources), convert, report))
    report.instances = len(instances)
    return instances, report


def check_prompt_settings(instances: list[SRLInstance], source: str, cfg: Any) -> None:
    """Instances built with other prompt settings than the run's are refused: the run's config.json must say how
    its prompts were built (`srl-agent eval` reads it). Files written before the settings were recorded pass."""
    for key, flag in (("history_window", "--history"), ("max_observation_chars", "--max-observation-chars")):
        used = {getattr(i, key) for i in instances} - {None}
        if used and used != {getattr(cfg, key)}:
            raise UserError(f"{source}: its instances were converted with {key}={', '.join(map(str, sorted(used)))} but this "
                            f"run has {key}={getattr(cfg, key)}; pass {key}={min(used)} (or convert again with "
                            f"`srl-agent data convert {flag} {getattr(cfg, key)}`)")


def tokenize_instances(instances: list[SRLInstance], tokenizer: Any, cfg: Any, report: DropReport) -> list[TrainPrompt]:
    prompts = []
    for inst in instances:
        ids = encode_prompt(tokenizer, list(inst.prompt))
        if len(ids) > cfg.max_prompt_tokens:
            report.dropped_instances[f"max_prompt_tokens={cfg.max_prompt_tokens}"] += 1
            continue
        prompts.append(TrainPrompt(inst, tuple(ids)))
    report.kept = len(prompts)
    if not prompts:
        raise no_instances_error(report)
    return prompts


def no_instances_error(report: Any) -> UserError:
    return UserError(
        f"no training instances left ({report.summary()}). Relax the filter that removed them "
        f"(e.g. max_prompt_tokens=8192, max_observation_chars=1000, only_resolved=false) or check --trajectories"
    )


class PromptSampler:
    """Endless shuffled passes over the prompts; `state()` / `load_state()` make a resumed run see the same order.

    With several processes each takes every world_size-th prompt of the same permutation, so ranks never overlap."""

    def __init__(self, n: int, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.seed, self.rank, self.world_size = n, seed, rank, world_size
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> list[int]:
        order = list(range(self.n))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        return order[self.rank :: self.world_size] or order  # fewer prompts than ranks: every rank sees all

    def take(self, k: int) -> list[int]:
        out = []
        while len(out) < k:
            if self.position >= len(self._order):
                self.epoch, self.position = self.epoch + 1, 0
                self._order = self._permutation()
            out.append(self._order[self.position])
            self.position += 1
        return out

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def load_state(self, state: dict[str, int]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()
