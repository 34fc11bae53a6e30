"""The method-specific groups of TrainConfig's keys, as typed views (TrainConfig.warm_start, .sft_baseline, .rlvr).

The config file and the command line keep flat keys (`sft_lr=3e-3`, `overlong=mask`), and config.json stores them
flat; validation names the flat key. The code of each method reads its group through the view, so what a method
depends on is one type, not a scan of the 70-key config:

    ws = cfg.warm_start      # WarmStartSettings: sft_steps, sft_lr, sft_batch_size, sft_think (SRL's warm start)
    sft = cfg.sft_baseline   # SFTBaselineSettings: epochs, steps, batch_size, only_resolved, max_prompt_tokens
    rl = cfg.rlvr            # RLVRSettings: bench, split, the agent's limits, overlong, timeouts, workers, docker_hosts
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from srl_agent.agent.loop import AgentConfig


@dataclass(frozen=True, slots=True)
class WarmStartSettings:
    """The SFT warm start before SRL (train/sft.py; not in the paper)."""

    steps: int  # sft_steps: supervised steps on the expert actions; 0 = none (the paper's setting)
    lr: float  # sft_lr: constant learning rate of its own AdamW
    batch_size: int  # sft_batch_size: random instances per step
    think: str  # sft_think: the thought written before every target action


@dataclass(frozen=True, slots=True)
class SFTBaselineSettings:
    """method=sft (train/sft_method.py): whole expert trajectories, the paper's Table 6 in configs/sft.toml."""

    epochs: int  # epochs: passes over the trajectories; 0 = run `steps` optimizer steps
    steps: int  # steps: optimizer steps when epochs = 0
    batch_size: int  # batch_size: trajectories per optimizer step (all their turns)
    only_resolved: bool  # only_resolved: drop trajectories whose source says the task was not resolved
    max_prompt_tokens: int  # max_prompt_tokens: turns with a longer prompt are dropped and counted

    def schedule(self, trajectories: int) -> tuple[int, int]:
        """(trajectories per step, optimizer steps) for `trajectories` kept: epochs * ceil(trajectories / batch)."""
        batch = min(self.batch_size, trajectories)
        return batch, (self.epochs * math.ceil(trajectories / batch) if self.epochs else self.steps)


@dataclass(frozen=True, slots=True)
class RLVRSettings:
    """method=rlvr (train/rlvr.py, train/loop.py:train_rlvr): multi-turn episodes graded in Docker."""

    bench: str  # bench: the task set (srl_agent.tasksets)
    split: str  # split: of `bench`; never the held-out split evaluated on
    agent: AgentConfig  # max_turns, max_format_errors, max_prompt_tokens + the prompt view (agent.loop.AgentConfig)
    overlong: str  # overlong: grade | zero | mask, for episodes stopped by max_turns or the context limit
    command_timeout_s: float  # command_timeout_s: per agent command (a timeout is an observation)
    grade_timeout_s: float  # grade_timeout_s: for the tests when grading (a timeout scores 0)
    workers: int  # workers: episodes (sandboxes) at once
    docker_hosts: str  # docker_hosts: a pool of Docker hosts (as `eval --docker-hosts`); "" = the local daemon
