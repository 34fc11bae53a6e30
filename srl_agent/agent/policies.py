"""Policies: what writes each turn of the agent loop. One small protocol, four implementations.

    gold    applies the task's reference patch, then submits: checks the harness (grading, images, test lists)
    expert  replays an expert trajectory's actions: checks that the environment reproduces what the expert saw
    empty   submits at once: the floor (nothing is ever resolved by an empty patch)
    model   a language model, greedy by default (the paper evaluates with greedy decoding)

Every policy answers in the trained format, `<think>…</think>` + one canonical action, so the loop parses scripted and
generated turns the same way. `complete` takes a batch: the loop batches the active episodes of a run into one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from srl_agent.actions import Action, Bash, Submit
from srl_agent.answer import encode_prompt, render_completion
from srl_agent.env.task import Task
from srl_agent.errors import UserError
from srl_agent.trajectory import Trajectory


@dataclass(frozen=True, slots=True)
class PolicyRequest:
    """One turn to write: the task, the turn index (0-based) and the prompt built by `build_messages`."""

    task: Task
    turn: int
    messages: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    prompt_tokens: int | None = None  # None for policies without a tokenizer
    completion_tokens: int | None = None


class Policy(Protocol):
    name: str  # model_name_or_path in preds.jsonl
    batched: bool  # True when one call on many requests is cheaper than many calls (a model)

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        """Prompt length in the policy's tokens (the context limit is checked with it), or None."""
        ...

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        """One completion per request, in order."""
        ...


def scripted(thought: str, action: Action) -> Completion:
    """A completion in the trained format (srl_agent.answer.render_completion)."""
    return Completion(render_completion(thought, action))


class _Scripted:
    batched = False

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return None

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        return [self.turn(r.task, r.turn) for r in requests]

    def turn(self, task: Task, index: int) -> Completion:
        raise NotImplementedError


class GoldPolicy(_Scripted):
    """Turn 0 applies the gold patch with `git apply` in the repository (the env's working directory), turn 1 submits."""

    name = "gold"
    DELIMITER = "SRL_GOLD_PATCH_EOF"

    def turn(self, task: Task, index: int) -> Completion:
        if index == 0 and task.patch.strip():
            patch = task.patch if task.patch.endswith("\n") else task.patch + "\n"
            command = f"git apply --verbose - <<'{self.DELIMITER}'\n{patch}{self.DELIMITER}"
            return scripted("Apply the reference patch.", Bash(command))
        return scripted("The reference patch is applied.", Submit())


class EmptyPolicy(_Scripted):
    name = "empty"

    def turn(self, task: Task, index: int) -> Completion:
        return scripted("Submit without changes.", Submit())


class ExpertPolicy(_Scripted):
    """Replays each task's expert trajectory action by action (the thought too), then submits."""

    name = "expert"

    def __init__(self, trajectories: dict[str, Trajectory]):
        self.trajectories = trajectories

    @classmethod
    def from_file(cls, path: str) -> ExpertPolicy:
        from srl_agent.readers import read_trajectories

        return cls({t.instance_id: t for t in read_trajectories([path])})

    def check_covers(self, tasks: Sequence[Task], source: str) -> None:
        """Fail before any container starts when a task has no trajectory (e.g. swe-mini's held-out split)."""
        missing = [t.instance_id for t in tasks if t.instance_id not in self.trajectories]
        if missing:
            have = ", ".join(sorted(self.trajectories)[:4])
            raise UserError(
                f"{source} has no trajectory for {len(missing)} instance(s) ({', '.join(missing[:4])}"
                f"{', …' if len(missing) > 4 else ''}); it covers {len(self.trajectories)} ({have}, …). "
                "Pick its instances with --instances or --split (swe-mini: --split train)"
            )

    def turn(self, task: Task, index: int) -> Completion:
        steps = self.trajectories[task.instance_id].steps
        if index < len(steps):
            return scripted(steps[index].thought, steps[index].action)
        return scripted("The expert trajectory ended without submitting.", Submit())


class ModelPolicy:
    """A causal LM behind the chat template it was trained with (the same `encode_prompt` as the trainer).

    temperature 0 is greedy decoding (transformers `generate(do_sample=False)`: the rollout engines only sample);
    temperature > 0 samples through the rollout engine (`--engine hf|vllm`).
    """

    batched = True

    def __init__(self, name: str, model: Any, tokenizer: Any, *, max_new_tokens: int = 1024, temperature: float = 0.0,
                 engine: str = "hf", batch_size: int = 32, seed: int = 0):
        self.name, self.model, self.tokenizer = name, model, tokenizer
        self.max_new_tokens, self.temperature, self.batch_size, self.seed = max_new_tokens, temperature, batch_size, seed
        self._calls = 0
        self._engine = None
        if engine == "vllm" or temperature > 0:
            from srl_agent.rollout import make_engine

            try:
                self._engine = make_engine(engine, model, tokenizer)
            except ImportError as e:
                raise UserError(f"rollout engine {engine!r} is not available ({e}); use --engine hf") from e

    def reseed(self, seed: int) -> None:
        """Start a new run with `seed` (`eval --runs`): the same seed and prompts give the same samples."""
        self.seed, self._calls = seed, 0

    @classmethod
    def load(cls, name: str, *, dtype: str = "auto", **options: Any) -> ModelPolicy:
        from srl_agent.models.load import load_base_model, load_tokenizer

        tokenizer = load_tokenizer(name)
        model = load_base_model(name, dtype, tokenizer=tokenizer)
        import torch

        if torch.cuda.is_available():
            model = model.to("cuda")
        model.eval()
        return cls(name, model, tokenizer, **options)

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return len(encode_prompt(self.tokenizer, messages))

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        prompts = [encode_prompt(self.tokenizer, r.messages) for r in requests]
        self._calls += 1
        if self._engine is not None:
            from srl_agent.rollout import SamplingParams

            params = SamplingParams(temperature=self.temperature, max_completion_tokens=self.max_new_tokens)
            # One seed per call; runs with seeds s and s + 1 (`eval --runs`) never share a call's seed.
            samples = [s[0] for s in self._engine.generate(prompts, 1, params, seed=self.seed * 100_003 + self._calls)]
            return [Completion(s.text, len(p), len(s.completion_ids)) for p, s in zip(prompts, samples, strict=True)]
        out: list[Completion] = []
        for start in range(0, len(prompts), self.batch_size):
            out += self._greedy(prompts[start : start + self.batch_size])
        return out

    def _greedy(self, prompts: list[list[int]]) -> list[Completion]:
        import torch
        from transformers import GenerationConfig

        from srl_agent.rollout.hf import plain_generate

        tok = self.tokenizer
        eos = [i for i in {tok.eos_token_id, *_as_list(self.model.generation_config.eos_token_id)} if i is not None]
        pad = tok.pad_token_id if tok.pad_token_id is not None else eos[0]
        width = max(len(p) for p in prompts)
        device = next(self.model.parameters()).device
        # Left padding: every prompt ends at the same column, so the new tokens start at `width` in every row.
        input_ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts], device=device)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=device)
        # Plain argmax: plain_generate keeps a checkpoint's repetition_penalty (which also applies when greedy) out.
        config = GenerationConfig(do_sample=False, max_new_tokens=self.max_new_tokens, eos_token_id=eos,
                                  pad_token_id=pad)
        sequences = plain_generate(self.model, config, input_ids=input_ids, attention_mask=mask)
        completions = []
        for prompt, ids in zip(prompts, sequences[:, width:].tolist(), strict=True):
            end = next((t + 1 for t, i in enumerate(ids) if i in eos), len(ids))
            completions.append(Completion(tok.decode(ids[:end], skip_special_tokens=True), len(prompt), end))
        return completions


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]
