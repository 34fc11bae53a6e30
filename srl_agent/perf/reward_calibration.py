"""Reward calibration (part of `srl-agent perf reward`): does each reward mode tell equivalent actions from wrong ones?

For every expert action of the real trajectories, three kinds of prediction are scored against it, in every mode
(difflib, rapidfuzz, action, pivot), as a policy completion `<think>…</think>` + the canonical action:

    equivalent   the same action written differently: bash with other quoting, flag order or whitespace (the shell
                 runs the same argv), an editor path with a doubled slash (the same file)
    wrong_file   the same tool and arguments on another file of the corpus
    random       an action of another task

Per mode and action type: the mean score of each kind, `gap` = mean(equivalent) - max(mean(wrong_file),
mean(random)), and `ordered` = the share of expert actions whose equivalent scored above their wrong-file variant.
A good reward has a gap near 1 and ordered near 1. No peer publishes this; it tells users which reward to pick.
"""

from __future__ import annotations

import json
import random
import re
import statistics
from dataclasses import replace
from pathlib import Path
from typing import Any

from srl_agent.actions import Action, Bash, Edit, action_type, render_action
from srl_agent.answer import render_completion
from srl_agent.data.split import task_of
from srl_agent.readers import read_trajectories
from srl_agent.reward import REWARD_MODES, srl_reward

KINDS = ("equivalent", "wrong_file", "random")
# Boolean short flags whose order never matters, per verb (flags that take a value, like grep -A 3, are left alone).
_FREE_FLAGS = {"grep": set("rnilwEHvcosRIFxh"), "ls": set("lahRtr1SFd")}
_PATH = re.compile(r"(?<![\w./-])((?:/|\.{1,2}/)?[\w.-]+(?:/[\w.-]+)*\.\w+|/[\w.-]+(?:/[\w.-]+)+)(?![\w/-])")


def _outside_quotes(command: str) -> list[bool]:
    """Per character: True when it is outside single/double quotes and not escaped (a rough POSIX shell lexer)."""
    out, quote, escaped = [], "", False
    for ch in command:
        out.append(not quote and not escaped)
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote and ch == quote:
            quote = ""
        elif not quote and ch in "'\"":
            quote = ch
    return out


def bash_paraphrases(command: str) -> dict[str, str]:
    """Equivalent spellings of one command, by kind (only those that differ from it and keep its argv).

    Multi-line commands and heredocs get none: their spaces may be data."""
    if "\n" in command or "<<" in command:
        return {}
    free = _outside_quotes(command)
    out: dict[str, str] = {}
    spaced = "".join("  " if ch == " " and ok else ch for ch, ok in zip(command, free, strict=True))
    if spaced != command:
        out["whitespace"] = spaced
    # quoting: the first plain word argument gets single quotes, a single-quoted one double quotes, or vice versa
    for m in re.finditer(r"(?<=\s)([\w.,:/=][\w.,:/=-]*)(?=\s|$)|'([^'\"$`\\!]*)'|\"([^'\"$`\\!]*)\"", command):
        if not free[m.start()]:
            continue
        plain, single, double = m.groups()
        quoted = f"'{plain}'" if plain is not None else f'"{single}"' if single is not None else f"'{double}'"
        out["quoting"] = command[: m.start()] + quoted + command[m.end() :]
        break
    words = command.split(" ")
    flags = _FREE_FLAGS.get(words[0], set())
    for i, w in enumerate(words):
        if re.fullmatch(r"-[A-Za-z]{2,}", w) and set(w[1:]) <= flags and len(set(w[1:])) > 1:
            out["flag_order"] = " ".join([*words[:i], "-" + w[1:][::-1], *words[i + 1 :]])
            break
        if i + 1 < len(words) and all(re.fullmatch(r"-[A-Za-z]", x) and x[1] in flags for x in (w, words[i + 1])) \
                and w != words[i + 1]:
            out["flag_order"] = " ".join([*words[:i], words[i + 1], w, *words[i + 2 :]])
            break
    return out


def paraphrases(action: Action) -> dict[str, Action]:
    if isinstance(action, Bash):
        return {k: Bash(c) for k, c in bash_paraphrases(action.command).items()}
    if isinstance(action, Edit) and "/" in action.path.strip("/"):
        head, _, tail = action.path.rpartition("/")
        return {"path_spelling": replace(action, path=f"{head}//{tail}")}
    return {}


def wrong_file(action: Action, paths: list[str], rng: random.Random) -> Action | None:
    """The same action on another file of the corpus (None when it names no file)."""
    if isinstance(action, Edit):
        others = [p for p in paths if p.rsplit("/", 1)[-1] != action.path.rsplit("/", 1)[-1]]
        return replace(action, path=rng.choice(others)) if others else None
    if isinstance(action, Bash):
        match = _PATH.search(action.command)
        if match is None:
            return None
        others = [p for p in paths if p.rsplit("/", 1)[-1] != match.group(1).rsplit("/", 1)[-1]]
        if not others:
            return None
        return Bash(action.command[: match.start(1)] + rng.choice(others) + action.command[match.end(1) :])
    return None


def _score(pred: Action, expert_text: str, mode: str) -> float:
    return srl_reward(render_completion("next step", pred), expert_text, mode=mode)  # type: ignore[arg-type]


def _mean(values: list[float]) -> float | None:
    return round(statistics.mean(values), 4) if values else None


def calibrate(sample_dir: Path, seed: int = 0, max_actions: int | None = None) -> dict[str, Any]:
    """The calibration table (see the module docstring) over the expert actions under `sample_dir`."""
    rng = random.Random(seed)
    trajectories = list(read_trajectories([sample_dir], skip_bad=True))
    # keyed by task: the same run read through two formats (SWE-Gym raw and ShareGPT) is never its own "random"
    steps = [(task_of(t.instance_id), s.action) for t in trajectories for s in t.steps]
    if max_actions is not None and len(steps) > max_actions:
        steps = rng.sample(steps, max_actions)
    paths = sorted({a.path for _, a in steps if isinstance(a, Edit)})
    # per (mode, action type, kind): scores; per (mode, action type): [equivalent > wrong_file] per expert
    scores: dict[tuple[str, str, str], list[float]] = {}
    ordered: dict[tuple[str, str], list[bool]] = {}
    by_paraphrase: dict[tuple[str, str], list[float]] = {}
    for task, expert in steps:
        expert_text = render_action(expert)
        kind_type = action_type(expert)
        equivalents = paraphrases(expert)
        draws = (rng.choice(steps) for _ in range(20))  # an action of another task (20 tries)
        other = next((a for j, a in draws if j != task), None)
        wrong = wrong_file(expert, paths, rng)
        variants: dict[str, list[Action]] = {"equivalent": list(equivalents.values()),
                                             "wrong_file": [wrong] if wrong is not None else [],
                                             "random": [other] if other is not None else []}
        for mode in REWARD_MODES:
            per_kind = {kind: [_score(v, expert_text, mode) for v in vs] for kind, vs in variants.items()}
            for kind, values in per_kind.items():
                for key in ((mode, kind_type, kind), (mode, "all", kind)):
                    scores.setdefault(key, []).extend(values)
            for name, value in zip(equivalents, per_kind["equivalent"], strict=True):
                by_paraphrase.setdefault((mode, name), []).append(value)
            if per_kind["equivalent"] and per_kind["wrong_file"]:
                above = min(per_kind["equivalent"]) > per_kind["wrong_file"][0]
                for key in ((mode, kind_type), (mode, "all")):
                    ordered.setdefault(key, []).append(above)
    types = sorted({t for _, t, _ in scores} - {"all"}) + ["all"]
    table: dict[str, dict[str, Any]] = {}
    for mode in REWARD_MODES:
        table[mode] = {}
        for t in types:
            means = {kind: _mean(scores.get((mode, t, kind), [])) for kind in KINDS}
            counts = {f"n_{kind}": len(scores.get((mode, t, kind), [])) for kind in KINDS}
            wrong_means = [m for m in (means["wrong_file"], means["random"]) if m is not None]
            gap = round(means["equivalent"] - max(wrong_means), 4) if means["equivalent"] is not None and wrong_means else None
            flags = ordered.get((mode, t), [])
            table[mode][t] = {**means, **counts, "gap": gap, "ordered": _mean([float(f) for f in flags])}
    paraphrase = {mode: {name: _mean(v) for (m, name), v in sorted(by_paraphrase.items()) if m == mode}
                  for mode in REWARD_MODES}
    counts = {name: len(v) for (m, name), v in sorted(by_paraphrase.items()) if m == REWARD_MODES[0]}
    return {"expert_actions": len(steps), "trajectories": len(trajectories), "seed": seed,
            "paraphrase_counts": counts, "equivalent_by_paraphrase": paraphrase, "modes": table}


def pivot_rollouts(sample_dir: Path) -> dict[str, Any] | None:
    """NeMo Gym's recorded rollouts rescored with the pivot mode (None when the sample dir has none)."""
    from srl_agent.reward_pivot_rollouts import rescore_rollouts

    found = sorted(sample_dir.rglob("example_rollouts.jsonl"))
    if not found or not (found[0].parent / "example.jsonl").is_file():
        return None
    read = lambda p: [json.loads(line) for line in p.read_text().splitlines() if line.strip()]  # noqa: E731
    checks = rescore_rollouts(read(found[0].parent / "example.jsonl"), read(found[0]))
    return {"rollouts": len(checks), "equal": sum(c.equal for c in checks),
            "recorded_failures": sorted({c.recorded.failure.value for c in checks}),
            "differences": [c.uuid for c in checks if not c.equal]}
