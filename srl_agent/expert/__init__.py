"""The scripted expert: produces the shipped swe-mini trajectories by acting for real in the sandbox.

    python -m srl_agent.expert            # rebuilds trajectories/swe_mini.jsonl (training split) and sample.jsonl
"""
