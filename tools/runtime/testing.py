"""Tiny randomly initialised Hugging Face models built from a config, offline: fast stand-ins for a real
model in tests and benchmarks (a 4-layer Llama or GPT-2, d_model 64, d_mlp 96, a 400-token BPE
tokenizer trained on a few sentences)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["TINY_TEXTS", "build_tiny_model"]

TINY_TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "A cat sat on the mat and looked at the moon.",
    "Paris is the capital of France; Rome is the capital of Italy.",
    "One, two, three, four, five, six, seven, eight, nine, ten.",
    "She said: 'I will be there at 10:30 tomorrow morning.'",
    "def add(a, b):\n    return a + b",
]


def _tiny_tokenizer(folder: Path) -> None:
    """Train a small byte-level BPE tokenizer offline and save it as a fast HF tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(TINY_TEXTS * 20, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, eos_token="<|endoftext|>")
    fast.save_pretrained(folder)


def build_tiny_model(folder: Path, family: str, seed: int = 0) -> Path:
    """A randomly initialised 4-layer model of ``family`` ("llama" or "gpt2") saved to ``folder``."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PretrainedConfig

    folder.mkdir(parents=True, exist_ok=True)
    _tiny_tokenizer(folder)
    config: PretrainedConfig
    if family == "llama":
        config = LlamaConfig(
            vocab_size=400,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=4,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=128,
            tie_word_embeddings=True,
        )
    else:
        config = GPT2Config(vocab_size=400, n_embd=64, n_layer=4, n_head=4, n_positions=128, n_inner=96)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    # Random init leaves some weights tiny; scale up so activations are far from zero everywhere.
    with torch.no_grad():
        for param in model.parameters():
            if param.ndim == 2:
                param.mul_(3.0)
    model.save_pretrained(folder)
    return folder
