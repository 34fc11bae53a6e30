"""Training prompts: trajectories (or already converted instances) -> tokenised SRL instances, and a resumable sampler."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.data.instances import SRLInstance
from srl_agent.errors import UserError


@dataclass(frozen=True, slots=True)
class TrainPrompt:
    instance: SRLInstance
    prompt_ids: tuple[int, ...]  # the chat-templated prompt, ending with the assistant header


@dataclass
class DataReport:
    """Where every input went: the empty-dataset error quotes this."""

    sources: list[str]
    trajectories: int = 0
    instances: int = 0
    kept: int = 0
    dropped: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        parts = [f"{self.trajectories} trajectories -> {self.instances} instances -> {self.kept} kept"]
        parts += [f"{n} dropped by {reason}" for reason, n in self.dropped.most_common()]
        return "; ".join(parts)


def _is_instance_file(path: Path) -> bool:
    """A JSONL written by `srl-agent data convert` (rows with prompt + expert_action) rather than trajectories."""
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    with path.open(encoding="utf-8", errors="replace") as f:  # not text: not an instance file (the reader says why)
        first = next((line for line in f if line.strip()), "")
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return False
    return isinstance(row, dict) and "expert_action" in row and "prompt" in row


def encode_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> list[int]:
    """Chat template as text, then encode once: these ids are what the policy sees and what the loss conditions on."""
    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def load_instances(sources: list[str], cfg: Any) -> tuple[list[SRLInstance], DataReport]:
    from srl_agent.data.instances import ConvertConfig, ConvertReport, build_instances, read_instances
    from srl_agent.data.prompts import PromptConfig

    report = DataReport(sources)
    instances: list[SRLInstance] = []
    trajectory_sources = []
    for source in sources:
        if _is_instance_file(Path(source)):
            instances += list(read_instances(source))
        else:
            trajectory_sources.append(source)
    if trajectory_sources:
        from srl_agent.readers import read_trajectories

        prompt = PromptConfig(history_window=cfg.history_window, max_observation_chars=cfg.max_observation_chars)
        convert = ConvertConfig(prompt=prompt, only_resolved=cfg.only_resolved)
        conv_report = ConvertReport()
        read = read_trajectories(trajectory_sources)
        instances += list(build_instances(read, convert, conv_report))
        report.trajectories = read.read
        for reason, n in conv_report.dropped_trajectories.items():
            report.dropped[f"trajectory filter '{reason}' (only_resolved={cfg.only_resolved})" if reason == "not resolved" else f"trajectory filter '{reason}'"] += n
    report.instances = len(instances)
    return instances, report


def tokenize_instances(instances: list[SRLInstance], tokenizer: Any, cfg: Any, report: DataReport) -> list[TrainPrompt]:
    prompts = []
    for inst in instances:
        ids = encode_prompt(tokenizer, list(inst.prompt))
        if len(ids) > cfg.max_prompt_tokens:
            report.dropped[f"max_prompt_tokens={cfg.max_prompt_tokens}"] += 1
            continue
        prompts.append(TrainPrompt(inst, tuple(ids)))
    report.kept = len(prompts)
    if not prompts:
        raise UserError(
            f"no training instances left ({report.summary()}). Relax the filter that removed them "
            f"(e.g. max_prompt_tokens=8192, max_observation_chars=1000, only_resolved=false) or check --trajectories"
        )
    return prompts


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
