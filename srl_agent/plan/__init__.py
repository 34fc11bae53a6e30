"""`srl-agent plan`: will a training run fit, and how long will a step take? Estimated from the model's shape alone,
before any weights are loaded, so it answers "what GPU do I need?" on any machine.

    shape = load_shape("Qwen/Qwen2.5-Coder-7B-Instruct")       # a shipped config, a local dir, "tiny", a Hub name
    plan = estimate(PlanInput(shape=shape, gpus=8, gpu=GPUS["H100-80GB"], finetune="full", sharding="fsdp2"))
    print(render(plan))

Layers: `shape` (parameter counts from a config), `hardware` (GPU specs), `memory` (bytes per GPU, by component),
`speed` (seconds per SRL step at stated efficiencies), `advice` (fits? the smallest change that makes it fit),
`from_config` (a plan from `train`'s config, and the gate `train` runs on a GPU), `table` (the README's table).
`srl_agent.perf.plan_measure` checks the memory model against a real training micro-step on this machine.
"""

from srl_agent.plan.advice import Plan, estimate, render
from srl_agent.plan.hardware import GPUS, GPUSpec
from srl_agent.plan.memory import PlanInput
from srl_agent.plan.shape import ModelShape, load_shape

__all__ = ["GPUS", "GPUSpec", "ModelShape", "Plan", "PlanInput", "estimate", "load_shape", "render"]
