"""Step-wise SRL instances: one per expert action.

A trajectory with N actions yields N instances; instance k (0-based) has the issue and the expert's steps < k as
context and the expert's action k as the target. (The paper's §4.2 writes k = 1..N-1, which would drop the last
action; we keep every action, including the final submit, since each is a decision the policy must learn.)
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from srl_agent.actions import action_type, render_action
from srl_agent.data.prompts import PromptConfig, build_messages
from srl_agent.errors import UserError
from srl_agent.trajectory import Trajectory


@dataclass(frozen=True, slots=True)
class SRLInstance:
    """One training prompt. Written as one JSONL/Parquet row; `prompt` is a chat message list (TRL's conversational
    format) and `expert_action` the canonical target text that the reward compares against. `history_window` and
    `max_observation_chars` are the prompt settings it was built with (None in files written before they were
    recorded): training checks them against its own, and the run's config.json then holds what `eval` must use."""

    prompt: tuple[dict[str, str], ...]
    expert_action: str
    instance_id: str
    step_index: int
    num_steps: int
    action_type: str
    source_format: str
    history_window: int | None = None
    max_observation_chars: int | None = None

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row["prompt"] = list(self.prompt)
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> SRLInstance:
        return cls(**{**row, "prompt": tuple(row["prompt"])})


@dataclass(frozen=True, slots=True)
class ConvertConfig:
    """Options of `srl-agent data convert`."""

    prompt: PromptConfig = PromptConfig()
    only_resolved: bool = True
    """Drop trajectories whose source records `resolved = False` (those that do not say are kept)."""
    max_prompt_chars: int | None = None
    """Drop instances whose prompt (all message contents) is longer than this many characters."""
    max_prompt_tokens: int | None = None
    """Drop instances whose chat-templated prompt exceeds this many tokens of `tokenizer` (needs `tokenizer`)."""
    tokenizer: str | None = None
    """Hugging Face name or local path of the tokenizer for `max_prompt_tokens`."""

    def __post_init__(self) -> None:
        if self.max_prompt_tokens is not None and not self.tokenizer:
            raise UserError(
                "--max-prompt-tokens needs --tokenizer NAME|PATH (the tokenizer of the model you will train)"
            )


def trajectory_instances(traj: Trajectory, prompt: PromptConfig = PromptConfig()) -> Iterator[SRLInstance]:
    """The N instances of an N-action trajectory, in step order (from `first_target` on)."""
    n = len(traj.steps)
    for k, step in enumerate(traj.steps):
        if k < traj.first_target:
            continue
        yield SRLInstance(
            prompt=tuple(build_messages(traj.problem_statement, traj.steps[:k], prompt)),
            expert_action=render_action(step.action),
            instance_id=traj.instance_id,
            step_index=k,
            num_steps=n,
            action_type=action_type(step.action),
            source_format=traj.source_format,
            history_window=prompt.history_window,
            max_observation_chars=prompt.max_observation_chars,
        )


@dataclass
class DropReport:
    """Where every input went, for `data convert`, the SRL run's data and the SFT baseline's: what was kept, what was
    dropped and why. Nothing is dropped without being counted here. `unit` names what trajectories become."""

    read: int = 0  # trajectories read (0 when the input was converted already)
    trajectories: int = 0  # trajectories used (not dropped)
    instances: int = 0  # units built from them that passed the conversion's filters
    kept: int = 0  # units left after the consumer's own filters (training: max_prompt_tokens)
    unit: str = "instances"
    dropped_trajectories: Counter[str] = field(default_factory=Counter)
    dropped_instances: Counter[str] = field(default_factory=Counter)
    action_types: Counter[str] = field(default_factory=Counter)
    dropped_turns: Counter[str] = field(default_factory=Counter)  # malformed turns the readers skipped

    def lines(self) -> list[str]:
        """`srl-agent data convert`'s report."""
        out = [f"trajectories used: {self.trajectories}", f"{self.unit} written: {self.instances}"]
        out += [f"trajectories dropped ({reason}): {n}" for reason, n in sorted(self.dropped_trajectories.items())]
        out += [f"turns dropped by the reader ({reason}): {n}" for reason, n in sorted(self.dropped_turns.items())]
        out += [f"{self.unit} dropped ({reason}): {n}" for reason, n in sorted(self.dropped_instances.items())]
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (dataclasses.asdict would turn each Counter into a Counter of (key, count) pairs)."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), Counter) else v for f in fields(self)}

    def summary(self) -> str:
        """One line for a training run's start (and its empty-dataset error)."""
        drops = Counter({f"trajectory filter '{r}'": n for r, n in self.dropped_trajectories.items()}) + self.dropped_instances
        parts = [f"{self.read} trajectories -> {self.instances} {self.unit} -> {self.kept} kept"]
        return "; ".join(parts + [f"{n} dropped by {reason}" for reason, n in drops.most_common()])


def dropped_turns(traj: Trajectory) -> Counter[str]:
    """The malformed turns a reader skipped in `traj` (metadata["dropped_turns"]: reason -> count)."""
    found = traj.metadata.get("dropped_turns") or {}
    return Counter({str(k): int(v) for k, v in found.items()})


def _prompt_chars(instance: SRLInstance) -> int:
    return sum(len(m["content"]) for m in instance.prompt)


def token_counter(tokenizer_name: str) -> Callable[[list[dict[str, str]]], int]:
    """Count chat-templated prompt tokens with a Hugging Face tokenizer (or "tiny", the built-in test tokenizer)."""
    if tokenizer_name == "tiny":
        from srl_agent.models.tiny import tiny_tokenizer

        tokenizer = tiny_tokenizer()
    else:
        if tokenizer_name.startswith(("/", ".", "~")) and not Path(tokenizer_name).expanduser().is_dir():
            raise UserError(f"--tokenizer {tokenizer_name}: no such directory (a local path is never looked up on the Hub)")
        try:
            from transformers import AutoTokenizer
        except ImportError as e:
            raise UserError("token-length filtering needs transformers: pip install 'srl-agent[tokenize]'") from e
        try:
            tokenizer = AutoTokenizer.from_pretrained(tokenizer_name)
        except OSError as e:
            raise UserError(
                f"cannot load tokenizer {tokenizer_name!r} ({e.__class__.__name__}); offline, pass a local directory"
            ) from e

    def count(messages: list[dict[str, str]]) -> int:
        if tokenizer.chat_template:
            return len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True))
        return len(tokenizer("\n".join(m["content"] for m in messages))["input_ids"])

    return count


def build_instances(
    trajectories: Iterable[Trajectory], config: ConvertConfig, report: DropReport
) -> Iterator[SRLInstance]:
    """Apply the filters of `config` and yield the kept instances, counting everything dropped in `report`."""
    count_tokens = token_counter(config.tokenizer) if config.max_prompt_tokens is not None else None
    for traj in trajectories:
        report.read += 1
        report.dropped_turns.update(dropped_turns(traj))
        if config.only_resolved and traj.resolved is False:
            report.dropped_trajectories["not resolved"] += 1
            continue
        if not traj.steps:
            report.dropped_trajectories["no actions"] += 1
            continue
        report.trajectories += 1
        for inst in trajectory_instances(traj, config.prompt):
            if config.max_prompt_chars is not None and _prompt_chars(inst) > config.max_prompt_chars:
                report.dropped_instances[f"prompt > {config.max_prompt_chars} chars"] += 1
                continue
            if count_tokens is not None and count_tokens(list(inst.prompt)) > config.max_prompt_tokens:  # type: ignore[operator]
                report.dropped_instances[f"prompt > {config.max_prompt_tokens} tokens"] += 1
                continue
            report.instances += 1
            report.kept += 1
            report.action_types[inst.action_type] += 1
            yield inst


def write_instances(instances: Iterable[SRLInstance], out: str | Path) -> int:
    """Write JSONL or Parquet, by the file extension; both load with `datasets.load_dataset`. Returns the count.

    The file appears only when complete and non-empty: rows go to a temporary name that is renamed at the end, and
    an error (a bad input record) or zero instances leave no file behind."""
    path = Path(out)
    if path.suffix not in (".jsonl", ".parquet"):
        raise UserError(f"{path}: output must end in .jsonl or .parquet")
    if path.is_dir():
        raise UserError(f"{path}: is a directory; pass an output file name ending in .jsonl or .parquet")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"{path}: cannot create its directory ({e.strerror})") from None
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        count = _write_file(instances, tmp, path.suffix)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if count == 0:
        tmp.unlink()
    else:
        os.replace(tmp, path)
    return count


def _write_file(instances: Iterable[SRLInstance], path: Path, suffix: str) -> int:
    count = 0
    if suffix == ".jsonl":
        with path.open("w", encoding="utf-8") as f:
            for inst in instances:
                f.write(json.dumps(inst.to_row(), ensure_ascii=False) + "\n")
                count += 1
        return count
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer = None
    batch: list[dict[str, Any]] = []
    try:
        for inst in instances:
            batch.append(inst.to_row())
            count += 1
            if len(batch) == 1024:
                writer = _write_batch(writer, batch, path, pa, pq)
                batch = []
        if batch or writer is None:
            writer = _write_batch(writer, batch, path, pa, pq)
    finally:
        if writer is not None:
            writer.close()
    return count


_SCHEMA_FIELDS = [
    ("prompt", "messages"),
    ("expert_action", "string"),
    ("instance_id", "string"),
    ("step_index", "int64"),
    ("num_steps", "int64"),
    ("action_type", "string"),
    ("source_format", "string"),
    ("history_window", "int64"),
    ("max_observation_chars", "int64"),
]


def _write_batch(writer: Any, rows: list[dict[str, Any]], path: Path, pa: Any, pq: Any) -> Any:
    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    types = {"messages": pa.list_(message), "string": pa.string(), "int64": pa.int64()}
    schema = pa.schema([(name, types[kind]) for name, kind in _SCHEMA_FIELDS])
    table = pa.Table.from_pylist(rows, schema=schema)
    if writer is None:
        writer = pq.ParquetWriter(path, schema)
    writer.write_table(table)
    return writer


def read_instances(path: str | Path) -> Iterator[SRLInstance]:
    """Read instances written by `write_instances` (JSONL or Parquet)."""
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches():
            for row in batch.to_pylist():
                yield SRLInstance.from_row(row)
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield SRLInstance.from_row(json.loads(line))
