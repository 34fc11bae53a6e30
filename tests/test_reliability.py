"""Reliability probes (docs/reliability.md), each against the real thing: signals sent to real process groups, a real
fork bomb in a real sandbox container, checkpoints damaged on disk, every bad input through the real CLI, adversarial
completions through the reward."""

from __future__ import annotations

import time

import pytest

from srl_agent.actions import Bash, Edit, parse_function_calls, render_action
from srl_agent.reward import srl_reward

# -- 5. bounded reward time ---------------------------------------------------------------------------------------

EXPERT_LS = render_action(Bash("ls -la"))
EXPERT_40K = render_action(Edit("create", "/testbed/big.py", file_text="".join(f"x{i} = {i * 7 % 13}\n"
                                                                              for i in range(4000))))
CREATE_1MB = render_action(Edit("create", "/testbed/big.py", file_text="".join(f"y{i} = {i % 97} + {i}\n"
                                                                               for i in range(60_000))))
ADVERSARIAL = {
    "100k unclosed <function=": ("<think>x</think>" + "<function=bash>x" * 100_000, EXPERT_LS, -1.0),
    "100k unclosed <parameter=": ("<think>x</think><function=bash>" + "<parameter=command>x" * 100_000
                                  + "</function>", EXPERT_LS, -1.0),
    "1 MB create vs 40 KB expert": ("<think>x</think>" + CREATE_1MB, EXPERT_40K, None),
    "the 40 KB expert itself": ("<think>x</think>" + EXPERT_40K, EXPERT_40K, 1.0),
    "4000 x 'a' vs itself": ("<think>x</think>" + render_action(Bash("a" * 4000)), render_action(Bash("a" * 4000)), 1.0),
    "1 MB bash vs 40 KB bash": ("<think>x</think>" + render_action(Bash("echo " + "ab " * 330_000)),
                                render_action(Bash("echo " + "ba " * 13_000)), None),
}


@pytest.mark.parametrize("mode", ["difflib", "rapidfuzz", "action"])
@pytest.mark.parametrize("case", list(ADVERSARIAL))
def test_adversarial_completions_score_fast(case, mode):
    """Before: 100k unclosed tags or a 1 MB create took over 120 s. The bound here is 20x the 100 ms target (a busy
    2-core CI machine); docs/reliability.md has the measured times."""
    completion, expert, expected = ADVERSARIAL[case]
    t0 = time.perf_counter()
    reward = srl_reward(completion, expert, mode=mode)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"{case} ({mode}) took {elapsed:.2f}s"
    if expected is not None:
        assert reward == expected
    else:
        # A 1 MB text cannot be close to a 40 KB one (the length bound); "action" averages in the equal path.
        assert 0.0 <= reward < (0.6 if mode == "action" else 0.2)


def test_linear_scanner_keeps_the_regex_semantics():
    text = ("<function=bash><parameter=command>a</parameter><parameter=x y>b</parameter></function>"
            "<function=bad name>z</function><function=submit></function><function=open>")
    assert parse_function_calls(text) == [("bash", [("command", "a")]), ("submit", [])]
