"""Mean SRL reward of a policy on a set of prompts: the "does it learn" measurement (before vs after training)."""

from __future__ import annotations

import statistics
from typing import Any

from srl_agent.reward import srl_rewards
from srl_agent.rollout import RolloutEngine
from srl_agent.train.dataset import TrainPrompt


def mean_reward(engine: RolloutEngine, prompts: list[TrainPrompt], cfg: Any, samples_per_prompt: int = 8, seed: int = 12345) -> dict[str, float]:
    """Sample `samples_per_prompt` completions per prompt at the training temperature, with a fixed seed."""
    out = engine.generate([p.prompt_ids for p in prompts], samples_per_prompt, cfg.sampling, seed)
    rewards = []
    for prompt, samples in zip(prompts, out, strict=True):
        rewards += srl_rewards([s.text for s in samples], [prompt.instance.expert_action] * len(samples),
                               mode=cfg.reward_mode, format_penalty=cfg.format_penalty)
    return {
        "reward_mean": statistics.fmean(rewards),
        "format_error_rate": sum(r == cfg.format_penalty for r in rewards) / len(rewards),
        "similarity_mean_when_well_formed": statistics.fmean([r for r in rewards if r != cfg.format_penalty] or [0.0]),
    }
