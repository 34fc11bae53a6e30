"""The reward calibration report of `srl-agent perf reward` on the shared real trajectories: its JSON fields and
the paraphrases it relies on (each must keep the command's argv)."""

import json
import shlex

from srl_agent.actions import Bash
from srl_agent.cli import main
from srl_agent.perf.reward_calibration import KINDS, bash_paraphrases, paraphrases, wrong_file
from srl_agent.reward import REWARD_MODES


def test_paraphrases_keep_the_argv():
    commands = ["grep -rn 'def calculate_total' /workspace/proj", "cd /testbed && python reproduce.py",
                "grep -r -n foo src", 'find src -name "x.pony"', "ls -la"]
    kinds = set()
    for command in commands:
        for kind, text in bash_paraphrases(command).items():
            kinds.add(kind)
            assert text != command
            before, after = shlex.split(command), shlex.split(text)
            if kind == "flag_order":  # the same flags, in another order
                flags = lambda argv: sorted("".join(sorted(w)) if w.startswith("-") else w for w in argv)  # noqa: E731
                before, after = flags(before), flags(after)
            assert before == after, (kind, text)
    assert kinds == {"whitespace", "quoting", "flag_order"}
    assert bash_paraphrases("cat > a.py << EOF\n  x = 1\nEOF") == {}  # heredoc data is not whitespace
    assert paraphrases(Bash("ls")) == {}
    import random

    moved = wrong_file(Bash("python /testbed/reproduce.py"), ["/testbed/src/a.py"], random.Random(0))
    assert moved == Bash("python /testbed/src/a.py")


def test_bench_reward_reports_calibration_per_mode(traj_dir, tmp_path, capsys):
    samples = tmp_path / "samples"  # a few real files (bash-heavy, editor-heavy, the pivot rows and rollouts) keep it fast
    for rel in ("nebius/nebius_swe-agent-trajectories_sample5.json", "swe-agent/demo_function_calling_simple.traj",
                "swe-agent/demo_marshmallow-1867__function_calling_replace.traj", "nemo_pivot/example.jsonl",
                "nemo_pivot/example_rollouts.jsonl"):
        (samples / rel).parent.mkdir(parents=True, exist_ok=True)
        (samples / rel).symlink_to(traj_dir / rel)
    out = tmp_path / "reward.json"
    assert main(["bench", "reward", "--samples", str(samples), "--calibration-actions", "60", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    cal = result["calibration"]
    assert cal["expert_actions"] == 60 and cal["seed"] == 0
    assert set(cal["modes"]) == set(REWARD_MODES) == {"difflib", "rapidfuzz", "action", "pivot"}
    assert set(cal["equivalent_by_paraphrase"]) == set(REWARD_MODES)
    assert cal["paraphrase_counts"] and set(cal["paraphrase_counts"]) <= {"whitespace", "quoting", "flag_order", "path_spelling"}
    for mode, table in cal["modes"].items():
        assert "all" in table and "bash" in table
        row = table["all"]
        assert set(row) == {*KINDS, *(f"n_{k}" for k in KINDS), "gap", "ordered"}
        assert row["n_random"] > 0 and row["n_equivalent"] > 0 and row["n_wrong_file"] > 0
        assert row["gap"] == round(row["equivalent"] - max(row["wrong_file"], row["random"]), 4)
        assert 0 <= row["ordered"] <= 1 and -1 <= row["random"] <= 1
        # every mode scores the same shell command re-spelled higher than the same command on another file
        assert table["bash"]["equivalent"] > table["bash"]["wrong_file"], mode
    assert result["pivot_rollouts"] == {"rollouts": 5, "equal": 5, "recorded_failures": ["model_output_invalid"],
                                        "differences": []}
