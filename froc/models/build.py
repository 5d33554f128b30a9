"""Build Llama-architecture causal LMs from a config (no pretrained weights needed)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from transformers import LlamaConfig, LlamaForCausalLM


@dataclass(frozen=True)
class ArchConfig:
    """Size of a Llama-style model built from scratch."""

    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    intermediate_size: int = 256
    max_position_embeddings: int = 256
    tie_word_embeddings: bool = True


SIZES = {
    "tiny": ArchConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                       intermediate_size=64, max_position_embeddings=128),
    "mini": ArchConfig(hidden_size=64, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                       intermediate_size=192),  # ~0.26M parameters with a 1k vocabulary
    "small": ArchConfig(hidden_size=96, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                        intermediate_size=256),  # ~0.55M parameters with a 1k vocabulary
    "1m": ArchConfig(hidden_size=128, num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4,
                     intermediate_size=320),
    "5m": ArchConfig(hidden_size=256, num_hidden_layers=6, num_attention_heads=8, num_key_value_heads=8,
                     intermediate_size=640),
    "20m": ArchConfig(hidden_size=448, num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8,
                      intermediate_size=1408),
    "100m": ArchConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, num_key_value_heads=12,
                       intermediate_size=2048, max_position_embeddings=512, tie_word_embeddings=False),
}


def build_llama(tokenizer, arch: ArchConfig | str = "small", seed: int = 0) -> LlamaForCausalLM:
    """A randomly initialised Llama model sized by ``arch`` whose vocabulary matches ``tokenizer``."""
    if isinstance(arch, str):
        if arch not in SIZES:
            from froc.errors import unknown_choice

            raise unknown_choice("model size", arch, SIZES)
        arch = SIZES[arch]
    cfg = LlamaConfig(
        vocab_size=len(tokenizer),
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        rms_norm_eps=1e-5,
        attention_dropout=0.0,
        **asdict(arch),
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())
