#!/usr/bin/env python3
"""Golden parity fixtures for the Phi-3 + LoRA engine (issue 3, acceptance 1).

Builds a tiny random Phi3ForCausalLM with Hugging Face transformers, saves it
in the Hugging Face format (config.json + model.safetensors, float32) into
tests/golden/fixtures/tiny_phi3/, wraps it in PEFT LoRA for two cases and
dumps, for one fixed right-padded batch, the logits, the loss over masked
answer tokens and every LoRA gradient (tests/golden/README.md explains every
file). Run from anywhere:

    /work/venvs/golden/bin/python tools/golden/make_golden.py

The forward/backward runs in float64 (weights are float32 values, upcast
exactly), so the fixtures are the exact answer up to float32 rounding of the
dump. Deterministic: fixed seeds, CPU, one thread.

How "our" per-slice LoRA maps onto PEFT. Phi-3 fuses q, k, v into one
qkv_proj, and PEFT can only adapt whole modules; we adapt the q, k and v row
slices separately (own A and B each, scale alpha/r). A PEFT adapter on
qkv_proj with rank n*r and alpha n*alpha (same scale) whose
  A = [A_q; A_k(; A_v)]           (stacked along the rank)
  B = block-diagonal: rows of q use columns [0, r) with B_q, rows of k use
      [r, 2r) with B_k, (rows of v use [2r, 3r) with B_v), zeros elsewhere
gives B A = [B_q A_q; B_k A_k; B_v A_v] (v rows zero in case A): exactly our
model. The gradients of A_q, A_k, ... are the matching row blocks of PEFT's
A gradient, those of B_q, B_k, ... the diagonal blocks of PEFT's B gradient
(the off-diagonal blocks are gradients of entries held at zero: ignored).
Case B also adapts o_proj, gate_up_proj, down_proj (rank r, alpha alpha) via
PEFT's rank_pattern/alpha_pattern.
"""
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "golden", "fixtures"))
MODEL_DIR = os.path.join(FIXTURES, "tiny_phi3")

CONFIG = dict(
    vocab_size=128,
    hidden_size=64,
    intermediate_size=128,
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
RANK = 4
ALPHA = 8.0  # scale alpha / rank = 2
WEIGHT_STD = 0.15  # larger than HF's 0.02 so logits and gradients are far from trivial

# The fixed batch: 2 rows, padded length 8, right-padded with pad id 0.
INPUT_IDS = [
    [1, 17, 42, 99, 5, 63, 77, 120],
    [1, 88, 23, 54, 101, 0, 0, 0],
]
ATTENTION_MASK = [[1] * 8, [1, 1, 1, 1, 1, 0, 0, 0]]
# answer_mask[b][t] = 1: token t of row b is an answer token (its loss term is
# -log softmax(logits[b, t-1])[input_ids[b][t]]).
ANSWER_MASK = [
    [0, 0, 0, 0, 0, 1, 1, 1],
    [0, 0, 0, 1, 1, 0, 0, 0],
]

CASES = {
    "case_a_qk": ["q", "k"],
    "case_b_all": ["q", "k", "v", "o_proj", "gate_up_proj", "down_proj"],
}


def make_base():
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(20261125)
    config = Phi3Config(**CONFIG)
    model = Phi3ForCausalLM(config).float().eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "model.norm.weight":
                p.copy_(1.0 + 0.1 * torch.randn_like(p))
            else:
                p.copy_(WEIGHT_STD * torch.randn_like(p))
    os.makedirs(MODEL_DIR, exist_ok=True)
    model.save_pretrained(MODEL_DIR, safe_serialization=True)
    gen = os.path.join(MODEL_DIR, "generation_config.json")
    if os.path.exists(gen):
        os.remove(gen)
    return model


def slices(cfg):
    h = cfg["hidden_size"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    return {"q": (0, h), "k": (h, h + kv), "v": (h + kv, h + 2 * kv)}


def run_case(base_state, case, targets):
    from peft import LoraConfig, get_peft_model
    from transformers import Phi3Config, Phi3ForCausalLM

    model = Phi3ForCausalLM(Phi3Config(**CONFIG))
    model.load_state_dict(base_state)
    model = model.double().eval()
    qkv_targets = [t for t in targets if t in ("q", "k", "v")]
    other = [t for t in targets if t not in ("q", "k", "v")]
    n_qkv = len(qkv_targets)
    modules = (["qkv_proj"] if n_qkv else []) + other
    lcfg = LoraConfig(
        r=RANK,
        lora_alpha=ALPHA,
        lora_dropout=0.0,
        target_modules=modules,
        rank_pattern={"qkv_proj": RANK * n_qkv} if n_qkv else {},
        alpha_pattern={"qkv_proj": ALPHA * n_qkv} if n_qkv else {},
        bias="none",
        init_lora_weights=True,
    )
    model = get_peft_model(model, lcfg).double().eval()

    h = CONFIG["hidden_size"]
    sl = slices(CONFIG)
    gen = torch.Generator().manual_seed(7 + len(targets))
    ours = {}  # "layers.{i}.{target}.lora_A" -> float32 array
    with torch.no_grad():
        for i in range(CONFIG["num_hidden_layers"]):
            layer = model.base_model.model.model.layers[i]
            if n_qkv:
                mod = layer.self_attn.qkv_proj
                A = mod.lora_A["default"].weight  # [n*r, h]
                B = mod.lora_B["default"].weight  # [h+2kv, n*r]
                A.zero_()
                B.zero_()
                for j, t in enumerate(qkv_targets):
                    a = (torch.rand(RANK, h, generator=gen) * 2 - 1) / np.sqrt(h)
                    b0, b1 = sl[t]
                    b = 0.2 * torch.randn(b1 - b0, RANK, generator=gen)
                    a, b = a.float().double(), b.float().double()
                    A[j * RANK:(j + 1) * RANK, :] = a
                    B[b0:b1, j * RANK:(j + 1) * RANK] = b
                    ours[f"layers.{i}.{t}.lora_A"] = a
                    ours[f"layers.{i}.{t}.lora_B"] = b
            for t in other:
                parent = layer.mlp if t in ("gate_up_proj", "down_proj") else layer.self_attn
                mod = getattr(parent, t)
                A = mod.lora_A["default"].weight
                B = mod.lora_B["default"].weight
                a = (torch.rand(A.shape, generator=gen) * 2 - 1) / np.sqrt(A.shape[1])
                b = 0.2 * torch.randn(B.shape, generator=gen)
                A.copy_(a.float().double())
                B.copy_(b.float().double())
                ours[f"layers.{i}.{t}.lora_A"] = A.detach().clone()
                ours[f"layers.{i}.{t}.lora_B"] = B.detach().clone()

    ids = torch.tensor(INPUT_IDS)
    attn = torch.tensor(ATTENTION_MASK)
    ans = torch.tensor(ANSWER_MASK)
    labels = torch.where(ans.bool(), ids, torch.full_like(ids, -100))
    # HF's Phi3ForCausalLM casts logits to float32; run its parts ourselves to
    # keep float64 to the end, and check against its own loss.
    hf_loss = model(input_ids=ids, attention_mask=attn, labels=labels).loss.item()
    model.zero_grad(set_to_none=True)
    causal_lm = model.base_model.model
    hidden = causal_lm.model(input_ids=ids, attention_mask=attn).last_hidden_state
    logits = causal_lm.lm_head(hidden)  # [B, T, V], float64
    lp = torch.log_softmax(logits[:, :-1], dim=-1)
    tok = lp.gather(-1, ids[:, 1:, None])[..., 0]
    m = ans[:, 1:].double()
    loss = -(tok * m).sum() / m.sum()
    assert abs(loss.item() - hf_loss) < 1e-5 * abs(hf_loss), (loss.item(), hf_loss)
    loss.backward()

    grads = {}
    for i in range(CONFIG["num_hidden_layers"]):
        layer = model.base_model.model.model.layers[i]
        if n_qkv:
            mod = layer.self_attn.qkv_proj
            gA = mod.lora_A["default"].weight.grad
            gB = mod.lora_B["default"].weight.grad
            for j, t in enumerate(qkv_targets):
                b0, b1 = sl[t]
                grads[f"layers.{i}.{t}.grad_A"] = gA[j * RANK:(j + 1) * RANK, :].clone()
                grads[f"layers.{i}.{t}.grad_B"] = gB[b0:b1, j * RANK:(j + 1) * RANK].clone()
        for t in other:
            parent = layer.mlp if t in ("gate_up_proj", "down_proj") else layer.self_attn
            mod = getattr(parent, t)
            grads[f"layers.{i}.{t}.grad_A"] = mod.lora_A["default"].weight.grad.clone()
            grads[f"layers.{i}.{t}.grad_B"] = mod.lora_B["default"].weight.grad.clone()
    # Only LoRA parameters may have gradients.
    for name, p in model.named_parameters():
        assert ("lora_" in name) == (p.grad is not None), name
    return logits.detach(), loss.item(), ours, grads


def main():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    import peft
    import safetensors
    import transformers
    from safetensors.torch import save_file

    base = make_base()
    base_state = {k: v.clone() for k, v in base.state_dict().items()}
    versions = {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    summary = {
        "versions": versions,
        "config": CONFIG,
        "lora": {"rank": RANK, "alpha": ALPHA, "scale": ALPHA / RANK, "dropout": 0.0, "use_rslora": False},
        "batch": {"input_ids": INPUT_IDS, "attention_mask": ATTENTION_MASK, "answer_mask": ANSWER_MASK},
        "cases": {},
    }
    for case, targets in CASES.items():
        logits, loss, adapter, grads = run_case(base_state, case, targets)
        tensors = {"logits": logits.float().contiguous()}
        for k, v in {**adapter, **grads}.items():
            tensors[k] = v.float().contiguous()
        save_file(tensors, os.path.join(FIXTURES, f"{case}.safetensors"), metadata={"case": case})
        summary["cases"][case] = {
            "targets": targets,
            "loss": loss,
            "file": f"{case}.safetensors",
            "tensors": {k: list(v.shape) for k, v in sorted(tensors.items())},
        }
        print(f"{case}: loss {loss:.10f}, {len(tensors)} tensors")
    with open(os.path.join(FIXTURES, "golden.json"), "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
