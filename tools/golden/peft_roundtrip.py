#!/usr/bin/env python3
"""PEFT round trip for our adapter export (issue 6).

Proves that Hugging Face PEFT reads our PEFT export (adapter_model.safetensors
+ adapter_config.json, a q/k-only adapter fused onto Phi-3's qkv_proj) as the
same model our C++ LoraModel computes. Three steps; the outputs are committed
under tests/golden/fixtures/peft_roundtrip/ so CI needs no PyTorch:

  1. python peft_roundtrip.py base      -> config.json, model.safetensors
     (a tiny random Phi-3, float32, seeded)
  2. PERSONAS_WRITE_GOLDEN=1 build/tests/test_golden --gtest_filter='PeftRoundTrip.*'
     -> adapter_model.safetensors, adapter_config.json (our export of a
     seeded adapter with non-zero B) and input_ids.json
  3. python peft_roundtrip.py logits    -> expected_logits.json: PEFT's
     logits for input_ids, plus the versions used
Then test_golden (PeftRoundTrip.*) checks, without Python, that our export
is byte-identical to the committed one and that our logits match PEFT's.

Environment: /usr/bin/python3's torch (Debian python3-torch 1.13) with
transformers 4.44.2 and peft 0.12.0 from the venv /work/venvs/golden
(created with --system-site-packages). Run with /work/venvs/golden/bin/python.
"""
import json
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "golden", "fixtures", "peft_roundtrip"))

CONFIG = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    original_max_position_embeddings=64,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
    sliding_window=None,
    tie_word_embeddings=False,
    hidden_act="silu",
    attention_dropout=0.0,
    resid_pdrop=0.0,
    embd_pdrop=0.0,
    rope_scaling=None,
    torch_dtype="float32",
)


def make_base():
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(1234)
    config = Phi3Config(**CONFIG)
    model = Phi3ForCausalLM(config).float().eval()
    # The default init (std 0.02) makes near-uniform logits; widen it so the
    # comparison is meaningful.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 1.0 / p.shape[1] ** 0.5)
        model.model.embed_tokens.weight.normal_(0.0, 1.0)
    os.makedirs(FIXTURE, exist_ok=True)
    model.save_pretrained(FIXTURE, safe_serialization=True)
    # Keep only what the test needs (no generation_config noise).
    for extra in ("generation_config.json",):
        path = os.path.join(FIXTURE, extra)
        if os.path.exists(path):
            os.remove(path)
    print("wrote", FIXTURE)


def logits():
    import peft
    import transformers
    from peft import PeftModel
    from transformers import Phi3ForCausalLM

    base = Phi3ForCausalLM.from_pretrained(FIXTURE, torch_dtype=torch.float32).eval()
    with open(os.path.join(FIXTURE, "input_ids.json")) as f:
        rows = json.load(f)["input_ids"]
    model = PeftModel.from_pretrained(base, FIXTURE).eval()
    cfg = model.peft_config["default"]
    out = []
    with torch.no_grad():
        for ids in rows:
            x = torch.tensor([ids], dtype=torch.long)
            out.append(model(input_ids=x).logits[0].tolist())
        # Independent check of the fused layout: PEFT's delta on qkv_proj must be
        # [B_q A_q; B_k A_k; 0] * alpha / r for our q/k-only adapter.
        layer = model.base_model.model.model.layers[0].self_attn.qkv_proj
        delta = (layer.lora_B["default"].weight @ layer.lora_A["default"].weight) * layer.scaling["default"]
        q_dim = CONFIG["hidden_size"]
        kv_dim = CONFIG["hidden_size"] // CONFIG["num_attention_heads"] * CONFIG["num_key_value_heads"]
        v_rows = delta[q_dim + kv_dim:]
        assert torch.count_nonzero(v_rows) == 0, "v rows of the fused delta must be zero"
        assert torch.count_nonzero(delta[:q_dim]) > 0 and torch.count_nonzero(delta[q_dim:q_dim + kv_dim]) > 0
    # Without the adapter, for the record (the test checks the adapter changes the logits).
    with model.disable_adapter(), torch.no_grad():
        base_logits = [model(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in rows]
    doc = {
        "logits": out,
        "base_logits": base_logits,
        "r": cfg.r,
        "lora_alpha": cfg.lora_alpha,
        "target_modules": sorted(cfg.target_modules),
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__},
    }
    with open(os.path.join(FIXTURE, "expected_logits.json"), "w") as f:
        json.dump(doc, f)
    print("wrote expected_logits.json; r", cfg.r, "alpha", cfg.lora_alpha, "modules", cfg.target_modules)


if __name__ == "__main__":
    torch.set_num_threads(1)
    if len(sys.argv) != 2 or sys.argv[1] not in ("base", "logits"):
        sys.exit(__doc__)
    make_base() if sys.argv[1] == "base" else logits()
