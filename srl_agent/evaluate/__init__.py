"""`srl-agent eval`: run a policy on a task set's tasks (runner; one instance: instance), write predictions and the
run report, bridge to the official SWE-bench harness (harness), the oracle-file setting (oracle), and re-grading of
existing logs (regrade). The tasks and their sandboxes come from the caller (srl_agent.tasksets sits above)."""

from srl_agent.evaluate.runner import EvalConfig, Sandboxes, run_eval

__all__ = ["EvalConfig", "Sandboxes", "run_eval"]
