"""Tiny randomly initialised Hugging Face models built from a config, offline: fast stand-ins for a real
model in tests and benchmarks (a 4-layer Llama or GPT-2, d_model 64, d_mlp 96, a 400-token BPE
tokenizer trained on a few sentences).

``FAMILY_CONFIGS`` adds 3-layer models of the other families (``gemma``, ``gemma2``, ``gemma3_text``,
``gpt_neox``, ``phi3``) and of two architectures that only the structural fallback serves (``falcon``,
``bloom``): d_model 48, d_mlp 96 (192 for the fallback ones), 4 heads — Gemma's of ``head_dim`` 16, so
their concatenation (64) is wider than d_model, as in the released Gemma models, and Gemma 2/3's sliding
window 6 tokens, shorter than the test sentences."""

from __future__ import annotations

from pathlib import Path

__all__ = ["FAMILY_CONFIGS", "TINY_TEXTS", "build_tiny_model", "tiny_config"]

#: Config class name and arguments of the tiny model of each family beyond Llama and GPT-2.
FAMILY_CONFIGS: dict[str, tuple[str, dict[str, object]]] = {
    **{
        family: (
            cls,
            {"hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4, "num_key_value_heads": 2},
        )
        for family, cls in (("gemma", "GemmaConfig"), ("gemma2", "Gemma2Config"), ("gemma3_text", "Gemma3TextConfig"))
    },
    "gpt_neox": ("GPTNeoXConfig", {"hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4}),
    "phi3": ("Phi3Config", {"hidden_size": 48, "intermediate_size": 96, "num_attention_heads": 4}),
    "falcon": ("FalconConfig", {"hidden_size": 48, "num_attention_heads": 4}),
    "bloom": ("BloomConfig", {"hidden_size": 48, "n_head": 4, "n_layer": 3}),
}
_GEMMA_EXTRA: dict[str, object] = {"head_dim": 16, "sliding_window": 6}

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


def tiny_config(family: str) -> object:
    """The config of the tiny 3-layer model of a family in ``FAMILY_CONFIGS`` (vocabulary of 400 tokens)."""
    import transformers

    cls_name, kwargs = FAMILY_CONFIGS[family]
    extra = _GEMMA_EXTRA if family.startswith("gemma") else {}
    layers = {} if "n_layer" in kwargs else {"num_hidden_layers": 3}
    common = {
        "vocab_size": 400,
        "max_position_embeddings": 128,
        "pad_token_id": 0,
        "bos_token_id": 0,
        "eos_token_id": 0,
    }
    if family == "bloom":  # BLOOM has no learned positions (ALiBi)
        common.pop("max_position_embeddings")
    return getattr(transformers, cls_name)(**common, **layers, **extra, **kwargs)


def build_tiny_model(folder: Path, family: str, seed: int = 0) -> Path:
    """A randomly initialised model of ``family`` saved to ``folder``: 4 layers for "llama" and "gpt2"
    (any other name not in ``FAMILY_CONFIGS`` gives GPT-2), 3 for the families of ``FAMILY_CONFIGS``."""
    import torch
    from transformers import AutoModelForCausalLM, GPT2Config, LlamaConfig, PretrainedConfig

    folder.mkdir(parents=True, exist_ok=True)
    _tiny_tokenizer(folder)
    config: PretrainedConfig
    if family in FAMILY_CONFIGS:
        config = tiny_config(family)  # type: ignore[assignment]
    elif family == "llama":
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
