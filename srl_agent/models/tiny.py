"""`--model tiny`: a random-init Qwen2 and a byte-level BPE tokenizer trained locally, with no downloads.

The tokenizer is trained in ~0.3 s on `srl_agent/assets/tiny_corpus.txt` (shipped, fixed), so it is the same on every
machine: byte-level BPE (every string round-trips, no unknown tokens), ChatML chat template (Qwen's), left padding for
batched generation. The model uses head_dim 32, the smallest head size vLLM's CPU attention accepts.

    tok = tiny_tokenizer(); model = tiny_model(tok, seed=0)
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

EOS_TOKEN = "<|im_end|>"  # ends an assistant turn: generation stops here
PAD_TOKEN = "<|endoftext|>"
SPECIAL_TOKENS = (PAD_TOKEN, "<|im_start|>", EOS_TOKEN)
# The answer format's tags as single (non-special: decode keeps them) tokens, as Qwen3 has <think>: a 0.2M-parameter
# model then learns the format in a few dozen SFT steps instead of hundreds.
FORMAT_TOKENS = ("<think>", "</think>", "<function=", "</function>", "<parameter=", "</parameter>")
VOCAB_SIZE = 1024
# transformers' models/qwen2/tokenization_qwen2.py PRETOKENIZE_REGEX.
QWEN2_PRETOKENIZE_REGEX = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""

# Qwen2.5's ChatML layout, without the default system prompt (our prompts always carry one).
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def tiny_corpus() -> str:
    return resources.files("srl_agent.assets").joinpath("tiny_corpus.txt").read_text(encoding="utf-8")


@cache
def _tokenizer_json() -> str:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    # Exactly Qwen2's normalizer and pre-tokenizer: a saved tiny model is a Qwen2 model, so AutoTokenizer reloads its
    # tokenizer as Qwen2Tokenizer, which installs these two; any other choice would change the ids after a reload.
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN2_PRETOKENIZE_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes: nothing is ever unknown
        show_progress=False,
    )
    tok.train_from_iterator([tiny_corpus()], trainer=trainer)
    tok.add_tokens(list(FORMAT_TOKENS))
    return tok.to_str()


def tiny_tokenizer() -> Any:
    """A fresh `PreTrainedTokenizerFast` (deterministic: same corpus, same merges)."""
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_tokenizer_json()),
        eos_token=EOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=["<|im_start|>"],
        padding_side="left",  # given to the constructor, or it is lost on save/reload
        chat_template=CHAT_TEMPLATE,
        model_max_length=32768,
    )


def tiny_model_config(
    vocab_size: int, *, hidden_size: int = 64, num_layers: int = 2, eos_token_id: int = 2, pad_token_id: int = 0
) -> Any:
    """A Qwen2 config small enough for CPU tests (~0.2M parameters at the defaults).

    num_attention_heads = hidden_size // 32 keeps head_dim at 32 (vLLM's CPU attention rejects head_dim 16).
    """
    from transformers import Qwen2Config

    if hidden_size % 32:
        raise ValueError(f"hidden_size must be a multiple of 32 (head_dim 32), got {hidden_size}")
    return Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden_size,
        intermediate_size=4 * hidden_size,
        num_hidden_layers=num_layers,
        num_attention_heads=hidden_size // 32,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=8192,
        rope_theta=10000.0,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        torch_dtype="float32",
    )


def tiny_model(tokenizer: Any | None = None, *, seed: int = 0, hidden_size: int = 64, num_layers: int = 2) -> Any:
    """A random-init Qwen2ForCausalLM matching `tokenizer` (built in ~20 ms); the same seed gives the same weights."""
    import torch
    from transformers import Qwen2ForCausalLM

    tokenizer = tokenizer or tiny_tokenizer()
    config = tiny_model_config(
        len(tokenizer),
        hidden_size=hidden_size,
        num_layers=num_layers,
        eos_token_id=tokenizer.convert_tokens_to_ids(EOS_TOKEN),
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    return model
