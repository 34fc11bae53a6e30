"""The agent: a policy acting turn by turn in a SWE environment (loop.py), and the policies (policies.py)."""

from srl_agent.agent.loop import AgentConfig, AgentResult, Batcher, run_agent
from srl_agent.agent.policies import (
    Completion,
    EmptyPolicy,
    ExpertPolicy,
    GoldPolicy,
    ModelPolicy,
    Policy,
    PolicyRequest,
)

__all__ = [
    "AgentConfig",
    "AgentResult",
    "Batcher",
    "Completion",
    "EmptyPolicy",
    "ExpertPolicy",
    "GoldPolicy",
    "ModelPolicy",
    "Policy",
    "PolicyRequest",
    "run_agent",
]
