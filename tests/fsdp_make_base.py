"""The comparison experiment's base checkpoint under FSDP2 (run by tests/test_train_fsdp.py): `make_base` trains the
SFT warm start on the sharded policy and must save full weights (rank 0), not the ranks' shards.

    accelerate launch --config_file docs/accelerate/fsdp.yaml --num_processes 2 tests/fsdp_make_base.py OUT
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from accelerate import Accelerator

from srl_agent.experiments.compare import CONTEXT, SCALES, make_base
from srl_agent.train.distributed import shutdown

torch.set_num_threads(1)

if __name__ == "__main__":
    make_base("tiny", Path(sys.argv[1]) / "base", SCALES["smoke"], CONTEXT["tiny"])
    shutdown(Accelerator(cpu=True))
