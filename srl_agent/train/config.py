"""The training config: one frozen dataclass, every field documented and validated.

Values come from, in increasing priority: the defaults below, `srl_agent/configs/srl.toml` (the paper's settings,
always loaded), `--config FILE` (TOML), then `key=value` arguments on the command line.

    cfg = resolve_config(config_file="my.toml", overrides=["lr=1e-6", "group_size=4"])
"""

from __future__ import annotations

import dataclasses
import difflib
import tomllib
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.train.settings import RLVRSettings, SFTBaselineSettings, WarmStartSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
# The embedded default training data: 12 expert trajectories recorded on swe-mini's training tasks (trajectories/README.md).
DEFAULT_TRAJECTORIES = REPO_ROOT / "trajectories" / "swe_mini.jsonl"
PAPER_CONFIG = "srl.toml"


def _f(default: Any, help: str) -> Any:
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True)
class TrainConfig:
    # --- method (docs/baselines.md) -------------------------------------------------------------------------------
    method: str = _f("srl", "srl (GRPO on step-wise expert actions) | sft (imitation of whole expert trajectories) | rlvr (GRPO on agent episodes, reward = resolved).")
    init_from: str = _f("", "Start from this checkpoint (a run's final/ or checkpoints/step_N/, e.g. SRL's for SRL->RLVR); replaces `model`.")
    # --- model ---------------------------------------------------------------------------------------------------
    model: str = _f("tiny", "Hugging Face name, local directory, or 'tiny' (built-in random-init Qwen2, no downloads).")
    finetune: str = _f("full", "'full' (all weights) or 'lora' (peft adapters; the base stays frozen).")
    dtype: str = _f("auto", "auto | bfloat16 | float32 | float16. auto = bf16 on GPU (the paper's), fp32 on CPU.")
    gradient_checkpointing: bool = _f(False, "Recompute activations in backward: less memory, ~30% slower.")
    plan_check: bool = _f(True, "method=srl on a GPU: stop before loading weights when `srl-agent plan` says the run cannot fit (one line with the smallest fix); false to start anyway.")
    lora_r: int = _f(16, "LoRA rank (finetune=lora).")
    lora_alpha: int = _f(32, "LoRA alpha (finetune=lora).")
    lora_dropout: float = _f(0.0, "LoRA dropout (finetune=lora).")
    lora_target_modules: str = _f("all-linear", "'all-linear' or comma-separated module names, e.g. 'q_proj,v_proj'.")
    merge_lora: bool = _f(True, "Merge LoRA into the base weights in the final checkpoint (loads as a plain model).")
    # --- data ----------------------------------------------------------------------------------------------------
    history_window: int = _f(2, "Past (action, observation) pairs in each prompt; the paper's SWE setting uses 2; -1 = all.")
    max_observation_chars: int = _f(4000, "Observations longer than this are cut in the middle (>= 100).")
    only_resolved: bool = _f(True, "Drop trajectories whose source says the task was not resolved.")
    max_prompt_tokens: int = _f(4096, "Drop instances whose chat-templated prompt is longer (counted and reported).")
    # --- rollout -------------------------------------------------------------------------------------------------
    engine: str = _f("hf", "Rollout engine: 'hf' (transformers generate), 'vllm' (in-process vLLM) or 'vllm-server' (a vLLM server process; docs/training.md); vLLM engines are synced every step.")
    group_size: int = _f(8, "G: completions sampled per prompt (paper: 8). Must be >= 2 for group-normalised advantages.")
    temperature: float = _f(1.0, "Sampling temperature (paper: 1.0). Logprobs are taken at this temperature too.")
    max_completion_tokens: int = _f(512, "Longest completion; longer ones are cut (and usually score the format penalty).")
    generation_batch_size: int = _f(64, "Sequences per generate call (hf engine): bounds generation memory.")
    vllm_gpu_memory_utilization: float = _f(0.3, "Fraction of GPU memory vLLM may take (vllm engine, GPU).")
    vllm_kv_cache_gib: float = _f(1.0, "KV-cache size in GiB for vLLM on CPU.")
    rollout_server_url: str = _f("", "vllm-server engine: the server's OpenAI base URL, e.g. http://gpu1:8000/v1 (key: $OPENAI_API_KEY).")
    rollout_weights_dir: str = _f("", "vllm-server engine: where the trainer writes the weights the server reloads each step; a directory both can read (default: a temporary one, same machine only).")
    ignore_eos: bool = _f(False, "Never stop at EOS: every completion has exactly max_completion_tokens tokens (speed benchmarks: equal work).")
    # --- reward --------------------------------------------------------------------------------------------------
    reward_mode: str = _f("difflib", "difflib (the paper's 2M/T) | rapidfuzz (faster indel ratio) | action (tool-aware) | pivot (PivotRL's gated verifier).")
    format_penalty: float = _f(-1.0, "Reward of a malformed completion (paper: -1).")
    min_thought_chars: int = _f(1, "A completion whose <think>…</think> holds fewer non-space characters is malformed (the paper's format has a thought before every action; 0 accepts an empty one).")
    # --- GRPO ----------------------------------------------------------------------------------------------------
    batch_size: int = _f(512, "B: prompts per optimizer step, after dynamic sampling (paper: 512).")
    dynamic_sampling: bool = _f(True, "Keep a prompt only if the population std of its G rewards > filter_eps (paper).")
    filter_eps: float = _f(1e-4, "Dynamic-sampling threshold (the paper does not report it; 1e-4 drops only ~identical groups).")
    max_sampling_rounds: int = _f(4, "Generation rounds per step to fill the batch; a step trains on what it has after that.")
    clip_eps: float = _f(0.2, "PPO clip range: ratios outside [1 - clip_eps, 1 + clip_eps_high] stop contributing (unreported; verl's 0.2).")
    clip_eps_high: float = _f(0.0, "Upper clip range; 0 means equal to clip_eps (DAPO's clip-higher uses 0.28).")
    tis: str = _f("auto", "Truncated importance sampling against sampler/trainer mismatch: on | off | auto (on with engine=vllm). On: the trainer recomputes pi_old before the updates and weights each token's loss by min(pi_old / pi_sampler, tis_cap).")
    tis_cap: float = _f(2.0, "TIS weight cap C (verl's default 2.0).")
    dual_clip: float = _f(0.0, "Dual-clip constant c > 1 for negative advantages (Ye et al. 2020; e.g. 3.0): a token's loss is at most c*|A|. 0 = off.")
    kl_coef: float = _f(0.0, "Weight of the KL penalty to the frozen initial policy (paper: 0; >0 loads a reference model).")
    loss_agg: str = _f("grpo", "grpo (per-sequence token mean, then mean: the paper's) | dr_grpo (sum / (B*max_tokens)) | dapo (token mean).")
    scale_rewards: bool = _f(True, "Divide advantages by the group's std (GRPO); False gives Dr. GRPO's mean-centred advantages.")
    mini_batches: int = _f(1, "Optimizer steps per generated batch (PPO-style); 1 is fully on-policy.")
    micro_batch_size: int = _f(8, "Sequences per forward/backward; gradients accumulate over the mini-batch.")
    shared_prompt: bool = _f(True, "Run each group's prompt through the model once for its G completions (exact; "
                             "docs/training.md). false: every completion with its own copy (models without plain causal attention).")
    # --- optimisation --------------------------------------------------------------------------------------------
    steps: int = _f(100, "Training steps (generated batches).")
    lr: float = _f(5e-7, "AdamW learning rate (paper: 5e-7).")
    lr_schedule: str = _f("constant", "constant | linear | cosine (decay to 0 over `steps`); the paper names none.")
    warmup_ratio: float = _f(0.0, "Fraction of steps with linear warmup (paper: 0.0).")
    weight_decay: float = _f(0.0, "AdamW weight decay (unreported).")
    adam_beta1: float = _f(0.9, "AdamW beta1.")
    adam_beta2: float = _f(0.999, "AdamW beta2.")
    max_grad_norm: float = _f(1.0, "Clip the global gradient norm to this (paper: 1.0).")
    seed: int = _f(0, "Seeds data order, sampling and the tiny model's init. Same seed, same run.")
    # --- SFT warm start (not in the paper; needed for models that cannot yet write the format, e.g. tiny) ---------
    # Read through the view `warm_start` (train/settings.py), as are the SFT baseline's (`sft_baseline`) and RLVR's (`rlvr`).
    sft_steps: int = _f(0, "Supervised steps on the expert actions before SRL (0 = none, the paper's setting).")
    sft_lr: float = _f(5e-6, "SFT learning rate (the paper's SFT baseline: 5e-6).")
    sft_batch_size: int = _f(8, "Instances per SFT step.")
    sft_think: str = _f("I will take the next step.", "Thought written inside <think>…</think> before each SFT target.")
    # --- SFT baseline (method=sft; the paper's Table 6 in configs/sft.toml) ---------------------------------------
    epochs: int = _f(0, "method=sft: passes over the trajectories (paper: 3); steps = epochs * ceil(trajectories / batch_size). 0 = use `steps`.")
    # --- RLVR (method=rlvr; the paper's Table 7 in configs/rlvr.toml) ---------------------------------------------
    bench: str = _f("swe-mini", "method=rlvr: tasks with tests: swe-mini, a tasks dir/file (`srl-agent env mine`), swe-bench[-lite|-verified].")
    split: str = _f("train", "method=rlvr: split of `bench` (swe-mini: train | test | all). Never train on the held-out split you evaluate on.")
    max_turns: int = _f(30, "method=rlvr: turns per episode; at the limit the episode's diff is submitted (see `overlong`).")
    max_format_errors: int = _f(3, "method=rlvr: end an episode after this many malformed turns in a row (as `srl-agent eval`).")
    overlong: str = _f("grade", "method=rlvr: episodes stopped by max_turns or the context limit (max_prompt_tokens): grade (their diff is graded like any other) | zero (reward 0) | mask (left out of the group, like infra failures).")
    command_timeout_s: float = _f(60.0, "method=rlvr: seconds per agent command; a timed-out command is an observation, not a failure.")
    grade_timeout_s: float = _f(600.0, "method=rlvr: seconds for the tests when grading; tests that time out score 0 (the patch hung them).")
    workers: int = _f(8, "method=rlvr: episodes (sandboxes) at once; their turns are batched into one generate call.")
    docker_hosts: str = _f("", "method=rlvr: run the sandboxes on a pool of Docker hosts: comma-separated URL[=CAPACITY] or a hosts file (.toml/.yaml), as `eval --docker-hosts`; empty: the local daemon. Images reach every host before the model loads.")
    # --- output --------------------------------------------------------------------------------------------------
    save_every: int = _f(50, "Save a resumable checkpoint every N steps (0 = only the final one).")
    eval_every: int = _f(0, "Measure the mean reward on a fixed prompt subset (fixed seed) every N steps, before step 1 and at the end -> eval.jsonl (0 = never).")
    eval_prompts: int = _f(32, "Prompts in the evaluation subset (the first N of the training instances).")
    eval_samples: int = _f(8, "Completions per evaluation prompt.")
    samples_per_step: int = _f(4, "Completions per step written to samples.jsonl (the replay viewer reads it).")
    tensorboard: bool = _f(False, "Also log metrics to TensorBoard (OUTPUT/tensorboard).")
    wandb: bool = _f(False, "Also log metrics to Weights & Biases (needs `pip install wandb` and a login).")
    progress: bool = _f(True, "Show a tqdm progress bar.")

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def clip_high(self) -> float:
        return self.clip_eps_high or self.clip_eps

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    # --- derived views: what other packages take, built here once (never by hand at a call site) ---------------

    @property
    def prompt(self) -> Any:
        """The prompt settings (data.prompts.PromptConfig): instance files, the agent loop and eval use the same."""
        from srl_agent.data.prompts import PromptConfig

        return PromptConfig(history_window=self.history_window, max_observation_chars=self.max_observation_chars)

    @property
    def model_spec(self) -> Any:
        """What to load and how to train it (models.load.ModelSpec)."""
        from srl_agent.models.load import ModelSpec

        return ModelSpec(name=self.model, finetune=self.finetune, dtype=self.dtype,
                         gradient_checkpointing=self.gradient_checkpointing, lora_r=self.lora_r,
                         lora_alpha=self.lora_alpha, lora_dropout=self.lora_dropout,
                         lora_target_modules=self.lora_target_modules, seed=self.seed)

    @property
    def agent(self) -> Any:
        """The agent loop's limits for RLVR episodes (agent.loop.AgentConfig), as `srl-agent eval` runs them."""
        from srl_agent.agent.loop import AgentConfig

        return AgentConfig(max_turns=self.max_turns, max_prompt_tokens=self.max_prompt_tokens,
                           max_format_errors=self.max_format_errors, prompt=self.prompt)

    @property
    def warm_start(self) -> WarmStartSettings:
        """The SFT warm start's keys (sft_steps, sft_lr, sft_batch_size, sft_think), grouped (train/settings.py)."""
        return WarmStartSettings(self.sft_steps, self.sft_lr, self.sft_batch_size, self.sft_think)

    @property
    def sft_baseline(self) -> SFTBaselineSettings:
        """method=sft's keys (epochs, and the steps / batch / data keys it reads), grouped (train/settings.py)."""
        return SFTBaselineSettings(self.epochs, self.steps, self.batch_size, self.only_resolved, self.max_prompt_tokens)

    @property
    def rlvr(self) -> RLVRSettings:
        """method=rlvr's keys (bench, split, episode limits, overlong, timeouts, workers, docker_hosts), grouped."""
        return RLVRSettings(self.bench, self.split, self.agent, self.overlong, self.command_timeout_s,
                            self.grade_timeout_s, self.workers, self.docker_hosts)

    @property
    def sampling(self) -> Any:
        """Rollout sampling parameters (rollout.SamplingParams)."""
        from srl_agent.rollout import SamplingParams

        return SamplingParams(self.temperature, self.max_completion_tokens, self.ignore_eos)

    @property
    def use_tis(self) -> bool:
        """Truncated importance sampling (and recomputed pi_old) is on: explicitly, or by default with vLLM."""
        return self.tis == "on" or (self.tis == "auto" and self.engine.startswith("vllm"))

    @property
    def loss_settings(self) -> Any:
        """The per-token loss's settings (train.policy_loss.LossSettings)."""
        from srl_agent.train.policy_loss import LossSettings

        return LossSettings(self.clip_eps, self.clip_high, self.tis_cap if self.use_tis else None, self.dual_clip or None)

    @property
    def engine_options(self) -> dict[str, Any]:
        """Keyword arguments of rollout.make_engine for `engine`."""
        if self.engine == "vllm-server":
            return {"base_url": self.rollout_server_url, "weights_dir": self.rollout_weights_dir or None}
        if self.engine != "vllm":
            return {"generation_batch_size": self.generation_batch_size, "share_prefill": self.shared_prompt}
        from srl_agent.models.load import resolve_dtype

        # vLLM samples in the run's compute dtype (bf16 on GPU even when full fine-tuning keeps fp32 master weights).
        return {"gpu_memory_utilization": self.vllm_gpu_memory_utilization, "kv_cache_gib": self.vllm_kv_cache_gib,
                "seed": self.seed, "max_model_len": self.max_prompt_tokens + self.max_completion_tokens,
                "dtype": resolve_dtype(self.dtype)}


CHOICES = {
    "finetune": ("full", "lora"),
    "dtype": ("auto", "bfloat16", "float32", "float16"),
    "engine": ("hf", "vllm", "vllm-server"),
    "tis": ("auto", "on", "off"),
    "reward_mode": ("difflib", "rapidfuzz", "action", "pivot"),
    "loss_agg": ("grpo", "dr_grpo", "dapo"),
    "lr_schedule": ("constant", "linear", "cosine"),
    "method": ("srl", "sft", "rlvr"),
    "overlong": ("grade", "zero", "mask"),
}
POSITIVE = ("group_size", "temperature", "max_completion_tokens", "generation_batch_size", "batch_size", "max_sampling_rounds",
            "mini_batches", "micro_batch_size", "steps", "lr", "max_grad_norm", "lora_r", "sft_batch_size", "max_prompt_tokens",
            "eval_prompts", "eval_samples", "max_turns", "max_format_errors", "command_timeout_s", "grade_timeout_s", "workers")
NON_NEGATIVE = ("filter_eps", "clip_eps", "clip_eps_high", "kl_coef", "warmup_ratio", "weight_decay", "sft_steps", "sft_lr",
                "save_every", "samples_per_step", "eval_every", "lora_dropout", "epochs", "min_thought_chars")


def _validate(c: TrainConfig) -> None:
    for name, choices in CHOICES.items():
        if getattr(c, name) not in choices:
            raise UserError(f"{name}={getattr(c, name)!r} is not valid; choose one of: {', '.join(choices)}")
    for name in POSITIVE:
        if not getattr(c, name) > 0:
            raise UserError(f"{name} must be > 0, got {getattr(c, name)}")
    for name in NON_NEGATIVE:
        if getattr(c, name) < 0:
            raise UserError(f"{name} must be >= 0, got {getattr(c, name)}")
    if c.group_size < 2:
        raise UserError(f"group_size must be >= 2 (advantages compare completions of the same prompt), got {c.group_size}")
    if c.warmup_ratio >= 1:
        raise UserError(f"warmup_ratio must be < 1 (a fraction of steps), got {c.warmup_ratio}")
    if not 0 <= c.adam_beta1 < 1 or not 0 <= c.adam_beta2 < 1:
        raise UserError(f"adam betas must be in [0, 1), got {c.adam_beta1}, {c.adam_beta2}")
    if c.mini_batches > c.batch_size:
        raise UserError(f"mini_batches={c.mini_batches} exceeds batch_size={c.batch_size}; each mini-batch needs >= 1 prompt")
    if c.history_window < -1:
        raise UserError(f"history_window must be >= 0, or -1 for the whole history; got {c.history_window}")
    if c.max_observation_chars < 100:
        raise UserError(f"max_observation_chars must be >= 100, got {c.max_observation_chars}")
    if (c.engine == "vllm-server") != bool(c.rollout_server_url):
        raise UserError("engine=vllm-server needs rollout_server_url=URL (the vLLM server's /v1 base URL), and "
                        f"rollout_server_url needs engine=vllm-server; got engine={c.engine!r}, "
                        f"rollout_server_url={c.rollout_server_url!r}")
    if c.format_penalty > 0:
        raise UserError(f"format_penalty must be <= 0 (a malformed answer must not beat a wrong one), got {c.format_penalty}")
    if c.dual_clip and c.dual_clip <= 1:
        raise UserError(f"dual_clip must be > 1 (e.g. 3.0), or 0 to switch it off; got {c.dual_clip}")
    if c.tis_cap < 1:
        raise UserError(f"tis_cap must be >= 1 (it caps pi_old / pi_sampler), got {c.tis_cap}")


FIELDS = {f.name: f for f in dataclasses.fields(TrainConfig)}


def _unknown_key(key: str, where: str) -> UserError:
    close = difflib.get_close_matches(key, FIELDS, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else "; see `srl-agent train --list-config`"
    return UserError(f"unknown config key {key!r} in {where}{hint}")


def _coerce(key: str, value: Any, where: str) -> Any:
    """Convert a TOML value or a command-line string to the field's type; say what was expected if it fails."""
    kind = typing.get_type_hints(TrainConfig)[key]
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        if kind is bool:
            if text.lower() in ("true", "1", "yes", "on"):
                return True
            if text.lower() in ("false", "0", "no", "off"):
                return False
            raise UserError(f"{key} in {where} must be true or false, got {value!r}")
        try:
            return kind(float(text)) if kind is int and "e" in text.lower() else kind(text)
        except ValueError:
            raise UserError(f"{key} in {where} must be a{'n' if kind is int else ''} {kind.__name__}, got {value!r}") from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise UserError(f"{key} in {where} must be a {kind.__name__}, got {value!r}")
    return value


def _read_toml(text: str, where: str) -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{where} is not valid TOML: {e}") from None
    flat: dict[str, Any] = {}
    for key, value in data.items():  # [sections] are only for reading: keys are flat
        for k, v in (value.items() if isinstance(value, dict) else [(key, value)]):
            if k not in FIELDS:
                raise _unknown_key(k, where)
            flat[k] = _coerce(k, v, where)
    return flat


def parse_overrides(items: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().removeprefix("--").replace("-", "_")
        if not sep:
            raise UserError(f"expected key=value, got {item!r} (e.g. lr=1e-6)")
        if key not in FIELDS:
            raise _unknown_key(key, "the command line")
        out[key] = _coerce(key, value, "the command line")
    return out


def _packaged(name: str) -> dict[str, Any]:
    return _read_toml(resources.files("srl_agent.configs").joinpath(name).read_text(encoding="utf-8"), name)


def resolve_config(config_file: str | Path | None = None, overrides: list[str] | None = None, method: str | None = None,
                   **explicit: Any) -> TrainConfig:
    """Defaults < the paper's srl.toml < the method's sft.toml / rlvr.toml (`method`) < config_file < overrides
    (key=value) < explicit keyword arguments."""
    values = _packaged(PAPER_CONFIG)
    if method is not None:
        if method not in CHOICES["method"]:
            raise UserError(f"--method {method!r} is not valid; choose one of: {', '.join(CHOICES['method'])}")
        if method != "srl":
            values.update(_packaged(f"{method}.toml"))
        values["method"] = method
    if config_file is not None:
        path = Path(config_file)
        if not path.is_file():
            raise UserError(f"config file {path} does not exist")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            raise UserError(f"config file {path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start}); "
                            "expected TOML like srl_agent/configs/srl.toml") from None
        values.update(_read_toml(text, str(path)))
    values.update(parse_overrides(overrides or []))
    values.update({k: v for k, v in explicit.items() if v is not None})
    return TrainConfig(**values)


def run_config(run_dir: str | Path) -> TrainConfig | None:
    """The config a training run resolved (RUN/config.json, written at its start), or None when `run_dir` holds no
    run: `srl-agent eval` takes the run's prompt view from it, so a model is evaluated in the format it learned."""
    import json

    path = Path(run_dir) / "config.json"
    data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    if not isinstance(data, dict) or "history_window" not in data:  # e.g. a model's own config.json
        return None
    return TrainConfig(**{k: v for k, v in data.items() if k in FIELDS})


def describe_fields() -> str:
    """One line per field: name = default  help (for `srl-agent train --list-config`)."""
    return "\n".join(f"{f.name:<28} = {f.default!r:<14} {f.metadata['help']}" for f in dataclasses.fields(TrainConfig))
