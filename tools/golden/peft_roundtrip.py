#!/usr/bin/env python3
"""PEFT round trip for our adapter export (issue 6).

Proves that Hugging Face PEFT reads our PEFT export (adapter_model.safetensors
+ adapter_config.json) as the same model our C++ LoraModel computes, for each
family of the export:

  phi3   a q/k-only adapter fused onto Phi-3's qkv_proj (rank 2r, alpha 2a),
         fixtures in tests/golden/fixtures/peft_roundtrip/
  llama  an adapter on every target (q, k, v, o_proj, gate_up_proj,
         down_proj) of a Llama base (GQA, tied embeddings, like SmolLM2),
         exported as separate q/k/v/o/gate/up/down_proj modules at rank r,
         fixtures in tests/golden/fixtures/peft_roundtrip_llama/

Three steps per family (--family phi3 is the default); the outputs are
committed so CI needs no PyTorch:

  1. python peft_roundtrip.py base [--family F]  -> config.json, model.safetensors
     (a tiny random Phi3ForCausalLM / LlamaForCausalLM, float32, seeded)
  2. PERSONAS_WRITE_GOLDEN=1 build/tests/test_golden --gtest_filter='PeftRoundTrip.*'
     -> adapter_model.safetensors, adapter_config.json (our export of a
     seeded adapter with non-zero B) and input_ids.json (both families)
  3. python peft_roundtrip.py logits [--family F] -> expected_logits.json:
     PEFT's logits for input_ids, plus the versions used
Then test_golden (PeftRoundTrip.*) checks, without Python, that our export
is byte-identical to the committed one and that our logits match PEFT's.

Environment: /usr/bin/python3's torch (Debian python3-torch 1.13) with
transformers 4.44.2 and peft 0.12.0 from the venv /work/venvs/golden
(created with --system-site-packages). Run with /work/venvs/golden/bin/python.
Debian's torch does its matrix products in OpenBLAS, whose kernel (chosen by
CPU) changes the last bits of the logits; OPENBLAS_CORETYPE=Haswell (set below
unless the environment sets it) gives the committed files on any x86-64 CPU.
"""
import argparse
import json
import os

# Before torch loads OpenBLAS (which reads it once, at load).
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import torch  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "golden", "fixtures"))

PHI3_CONFIG = dict(
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

# SmolLM2's shape in small: GQA (4 heads, 2 kv heads, head dim 8), tied
# embeddings, rope_theta 100000, no biases.
LLAMA_CONFIG = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=64,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=0,
    tie_word_embeddings=True,
    hidden_act="silu",
    attention_bias=False,
    mlp_bias=False,
    attention_dropout=0.0,
    pretraining_tp=1,
    rope_scaling=None,
    torch_dtype="float32",
)

FAMILIES = {
    "phi3": dict(dir="peft_roundtrip", config=PHI3_CONFIG, seed=1234,
                 targets={"qkv_proj"}, classes=("Phi3Config", "Phi3ForCausalLM")),
    "llama": dict(dir="peft_roundtrip_llama", config=LLAMA_CONFIG, seed=4321,
                  targets={"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"},
                  classes=("LlamaConfig", "LlamaForCausalLM")),
}


def classes(family):
    import transformers

    config_cls, model_cls = FAMILIES[family]["classes"]
    return getattr(transformers, config_cls), getattr(transformers, model_cls)


def fixture(family):
    return os.path.join(FIXTURES, FAMILIES[family]["dir"])


def make_base(family):
    config_cls, model_cls = classes(family)
    spec = FAMILIES[family]
    out_dir = fixture(family)

    torch.manual_seed(spec["seed"])
    config = config_cls(**spec["config"])
    model = model_cls(config).float().eval()
    # The default init (std 0.02) makes near-uniform logits; widen it so the
    # comparison is meaningful.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 2:
                p.normal_(0.0, 1.0 / p.shape[1] ** 0.5)
        model.model.embed_tokens.weight.normal_(0.0, 1.0)
        if family == "llama":
            # Norm weights away from 1, so that loading them is tested too.
            for name, p in model.named_parameters():
                if p.dim() == 1:
                    p.add_(torch.randn_like(p), alpha=0.1)
            assert model.lm_head.weight is model.model.embed_tokens.weight, "lm_head must be tied"
    os.makedirs(out_dir, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    # Keep only what the test needs (no generation_config noise).
    for extra in ("generation_config.json",):
        path = os.path.join(out_dir, extra)
        if os.path.exists(path):
            os.remove(path)
    print("wrote", out_dir)


def check_loaded_everything(model, out_dir):
    """Every tensor of our adapter file is a LoRA weight PEFT holds, equal bit
    for bit, and PEFT holds no LoRA weight our file lacks (a module PEFT adapted
    but found no weights for would silently keep B = 0)."""
    from safetensors.torch import load_file

    ours = load_file(os.path.join(out_dir, "adapter_model.safetensors"))
    theirs = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
    assert set(ours) == set(theirs), (sorted(set(ours) ^ set(theirs)))[:8]
    for k, v in ours.items():
        assert torch.equal(v, theirs[k]), k


def logits(family):
    import peft
    import transformers
    from peft import PeftModel

    _, model_cls = classes(family)
    spec = FAMILIES[family]
    cfg_dict = spec["config"]
    out_dir = fixture(family)

    base = model_cls.from_pretrained(out_dir, torch_dtype=torch.float32).eval()
    with open(os.path.join(out_dir, "input_ids.json")) as f:
        rows = json.load(f)["input_ids"]
    model = PeftModel.from_pretrained(base, out_dir).eval()
    cfg = model.peft_config["default"]
    assert set(cfg.target_modules) == spec["targets"], cfg.target_modules
    check_loaded_everything(model, out_dir)
    out = []
    with torch.no_grad():
        for ids in rows:
            x = torch.tensor([ids], dtype=torch.long)
            out.append(model(input_ids=x).logits[0].tolist())
        layers = model.base_model.model.model.layers
        if family == "phi3":
            # Independent check of the fused layout: PEFT's delta on qkv_proj must be
            # [B_q A_q; B_k A_k; 0] * alpha / r for our q/k-only adapter.
            layer = layers[0].self_attn.qkv_proj
            delta = (layer.lora_B["default"].weight @ layer.lora_A["default"].weight) * layer.scaling["default"]
            q_dim = cfg_dict["hidden_size"]
            kv_dim = cfg_dict["hidden_size"] // cfg_dict["num_attention_heads"] * cfg_dict["num_key_value_heads"]
            v_rows = delta[q_dim + kv_dim:]
            assert torch.count_nonzero(v_rows) == 0, "v rows of the fused delta must be zero"
            assert torch.count_nonzero(delta[:q_dim]) > 0 and torch.count_nonzero(delta[q_dim:q_dim + kv_dim]) > 0
        else:
            # Independent check of the separate layout: every module at scale
            # alpha / r, every B non-zero, and gate_proj / up_proj sharing the A
            # of our fused gate_up_proj adapter.
            for layer in layers:
                mods = [getattr(layer.self_attn, m) for m in ("q_proj", "k_proj", "v_proj", "o_proj")]
                mods += [getattr(layer.mlp, m) for m in ("gate_proj", "up_proj", "down_proj")]
                for m in mods:
                    assert m.scaling["default"] == cfg.lora_alpha / cfg.r
                    assert torch.count_nonzero(m.lora_B["default"].weight) > 0
                assert torch.equal(layer.mlp.gate_proj.lora_A["default"].weight, layer.mlp.up_proj.lora_A["default"].weight)
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
    with open(os.path.join(out_dir, "expected_logits.json"), "w") as f:
        json.dump(doc, f)
    print("wrote expected_logits.json; r", cfg.r, "alpha", cfg.lora_alpha, "modules", cfg.target_modules)


if __name__ == "__main__":
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("step", choices=("base", "logits"))
    parser.add_argument("--family", choices=sorted(FAMILIES), default="phi3")
    args = parser.parse_args()
    make_base(args.family) if args.step == "base" else logits(args.family)
