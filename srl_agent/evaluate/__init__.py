"""`srl-agent eval`: run a policy on a bench (runner), write predictions and the run report, bridge to the official
SWE-bench harness (harness), the oracle-file setting (oracle), and re-grading of existing logs (regrade)."""

from srl_agent.evaluate.runner import EvalConfig, run_eval, select_tasks

__all__ = ["EvalConfig", "run_eval", "select_tasks"]
