"""GPU specs the plan divides by: memory, dense bf16 peak FLOP/s (no sparsity), memory bandwidth. Vendor datasheets."""

from __future__ import annotations

from dataclasses import dataclass

from srl_agent.errors import UserError

GiB = 1024**3


@dataclass(frozen=True, slots=True)
class GPUSpec:
    name: str
    memory_bytes: int
    bf16_flops: float  # dense, per second
    bandwidth: float  # bytes per second


GPUS: dict[str, GPUSpec] = {
    g.name: g
    for g in (
        GPUSpec("H200", 141 * 10**9, 989e12, 4.8e12),
        GPUSpec("H100-80GB", 80 * 10**9, 989e12, 3.35e12),
        GPUSpec("A100-80GB", 80 * 10**9, 312e12, 2.04e12),
        GPUSpec("A100-40GB", 40 * 10**9, 312e12, 1.56e12),
        GPUSpec("L40S", 48 * 10**9, 362e12, 0.864e12),
        GPUSpec("A10G", 24 * 10**9, 125e12, 0.6e12),
        GPUSpec("RTX4090", 24 * 10**9, 165e12, 1.008e12),
    )
}


def gpu_spec(name: str, memory_gib: float | None = None) -> GPUSpec:
    """A GPU by name (case-insensitive prefix), or a custom one: `--gpu custom --gpu-memory-gib 48`."""
    if memory_gib is not None and name.lower() == "custom":
        return GPUSpec("custom", int(memory_gib * GiB), 312e12, 2.0e12)
    matches = [g for key, g in GPUS.items() if key.lower().startswith(name.lower())]
    if not matches:
        raise UserError(f"unknown GPU {name!r}; known: {', '.join(GPUS)} (or --gpu custom --gpu-memory-gib N)")
    spec = matches[0]
    if memory_gib is not None:
        spec = GPUSpec(spec.name, int(memory_gib * GiB), spec.bf16_flops, spec.bandwidth)
    return spec
