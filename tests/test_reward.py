import difflib
import random

import pytest

from srl_agent.actions import Bash, Edit, render_action
from srl_agent.reward import (
    FormatError,
    difflib_ratio,
    make_trl_reward,
    parse_completion,
    rapidfuzz_ratio,
    srl_reward,
    srl_rewards,
)

LS = render_action(Bash("ls"))
LS_A = render_action(Bash("ls -a"))


def think(action: str, thought: str = "I should look around.") -> str:
    return f"<think>{thought}</think>\n{action}"


def test_hand_computed_values():
    # "abcd" vs "bcde": one matching block "bcd" (M=3), T=8 -> 2*3/8.
    assert difflib_ratio("abcd", "bcde") == 0.75
    # pred = 35-char prefix + "ls" + 24-char suffix = 61 chars, all matched inside the 64-char expert: 2*61/125.
    assert len(LS) == 61 and len(LS_A) == 64
    assert srl_reward(think(LS), LS_A) == pytest.approx(2 * 61 / 125)
    assert srl_reward(think(LS_A), LS_A) == 1.0


def test_autojunk_is_off():
    base = "".join(random.Random(0).choice("ab cd\n") for _ in range(1000))
    edited = base[:500] + "xyz" + base[500:]
    expected = difflib.SequenceMatcher(None, edited, base, autojunk=False).ratio()
    assert difflib_ratio(edited, base) == expected > 0.99
    assert difflib.SequenceMatcher(None, edited, base).ratio() < 0.9  # what autojunk would have given


def test_only_the_action_is_scored():
    assert srl_reward(think(LS, "a"), LS) == srl_reward(think(LS, "a much longer, different thought " * 20), LS) == 1.0


def test_equivalent_encodings_score_identically():
    expert = render_action(Edit("str_replace", "/t/a.py", old_str="x = 1", new_str="x = 2"))
    openhands_style = (
        "<function=str_replace_editor>\n<parameter=command>\nstr_replace\n</parameter>\n<parameter=path>\n/t/a.py\n</parameter>\n"
        "<parameter=old_str>\nx = 1\n</parameter>\n<parameter=new_str>\nx = 2\n</parameter>\n</function>"
    )
    assert srl_reward(think(openhands_style), expert) == 1.0
    assert srl_reward(think("<function=execute_bash><parameter=command>ls</parameter></function>"), LS) == 1.0


@pytest.mark.parametrize(
    "completion",
    [
        "",
        "   \n ",
        LS,  # no think block
        f"Sure! <think>x</think>{LS}",  # text before think
        f"<think>x</think>{LS}\n{LS}",  # two actions
        "<think>x</think><function=rm_rf><parameter=path>/</parameter></function>",  # unknown tool
        f"<think>x{LS}",  # unclosed think
        "<think>x</think><function=bash><parameter=command>ls</parameter>",  # unclosed function
        f"<think>x</think>{LS.replace('ls', 'ls </think>')}",  # </think> smuggled into the action
        f"<think>a</think><think>b</think>{LS}",  # two think blocks
        "<think>x</think>",  # no action
        f"<think>x</think>{LS} and then I will run tests",  # trailing text
        "<think>x</think><function=str_replace_editor><parameter=command>explode</parameter><parameter=path>/a</parameter></function>",
    ],
)
def test_malformed_completions_score_the_penalty(completion):
    assert srl_reward(completion, LS) == -1.0
    assert srl_reward(completion, LS, format_penalty=-0.5) == -0.5
    with pytest.raises(FormatError):
        parse_completion(completion)


def test_expert_tool_outside_core_set_is_allowed():
    expert = "<function=edit>\n<parameter=start>3</parameter>\n</function>"
    assert srl_reward(think(expert), expert) == 1.0


def test_properties_range_and_identity():
    rng = random.Random(1)
    alphabet = "abc def\n'\"/_()="
    for _ in range(200):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        b = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))
        pred, expert = render_action(Bash(a)), render_action(Bash(b))
        for mode in ("difflib", "rapidfuzz", "action"):
            r = srl_reward(think(pred), expert, mode=mode)
            assert 0.0 <= r <= 1.0
            assert srl_reward(think(expert), expert, mode=mode) == 1.0
        # Indel similarity uses the longest common subsequence, never fewer matches than Ratcliff/Obershelp blocks.
        assert rapidfuzz_ratio(pred, expert) >= difflib_ratio(pred, expert) - 1e-9


def test_action_mode():
    view = render_action(Edit("view", "/t/a.py"))
    assert srl_reward(think(LS), view, mode="action") == 0.0  # different tool
    create = render_action(Edit("create", "/t/a.py", file_text="x"))
    assert srl_reward(think(view), create, mode="action") == 0.0  # different editor command
    quoted = render_action(Bash("grep -n 'foo bar'   x.py"))
    plain = render_action(Bash('grep -n "foo bar" x.py'))
    assert srl_reward(think(quoted), plain, mode="action") == 1.0
    assert srl_reward(think(quoted), plain) < 1.0  # the paper's mode sees the quoting


def test_batched_and_trl_signature():
    completions = [think(LS), "garbage", [{"role": "assistant", "content": think(LS_A)}]]
    experts = [LS, LS, LS_A]
    assert srl_rewards(completions, experts) == [1.0, -1.0, 1.0]
    reward_func = make_trl_reward()
    # TRL calls reward_func(prompts=..., completions=..., completion_ids=..., **dataset_columns)
    assert reward_func(prompts=["p"] * 3, completions=completions, completion_ids=[[1]] * 3, expert_action=experts) == [
        1.0,
        -1.0,
        1.0,
    ]
    with pytest.raises(KeyError, match="expert_action"):
        reward_func(completions=completions)
