#!/usr/bin/env python3
"""PyTorch eager prefill on the same weights as ours (issue 20, Speed): loads a
personas checkpoint (.h5, llama arch: fused qkv_proj and gate_up_proj are split
into q/k/v and gate/up) into transformers' LlamaForCausalLM and times one
forward over BATCH prompts of SEQ tokens, projecting only the last position
(what our prefill does before the first generated token).

    python bench/pytorch_prefill.py --model smollm2-135m-instruct.h5 [--seq 256 --batch 8 --threads 2 --reps 1]

Prints one JSON line: versions, seconds (median of reps after one warm-up), tokens/s.
Needs torch, transformers, h5py. Not used by CI.
"""
import argparse
import json
import time


def load_llama(path):
    import h5py
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    with h5py.File(path, "r") as f:
        a = f.attrs
        get = lambda k: a[k].item() if hasattr(a[k], "item") else a[k]
        arch = get("architecture")
        arch = arch.decode() if isinstance(arch, bytes) else arch
        if arch != "llama":
            raise SystemExit(f"{path}: architecture {arch}, this script reads llama checkpoints")
        h, heads, kv = int(get("hidden_size")), int(get("num_attention_heads")), int(get("num_key_value_heads"))
        inter, layers = int(get("intermediate_size")), int(get("num_hidden_layers"))
        cfg = LlamaConfig(vocab_size=int(get("vocab_size")), hidden_size=h, intermediate_size=inter,
                          num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv,
                          max_position_embeddings=int(get("max_position_embeddings")),
                          rope_theta=float(get("rope_theta")), rms_norm_eps=float(get("rms_norm_eps")),
                          tie_word_embeddings=bool(get("tie_word_embeddings")), attn_implementation="eager",
                          bos_token_id=int(get("bos_token_id")), eos_token_id=int(get("eos_token_id")))
        model = LlamaForCausalLM(cfg).float().eval()
        hd = h // heads
        sd = {}
        t = lambda name: torch.from_numpy(f[name.replace(".", "/")][()])
        sd["model.embed_tokens.weight"] = t("model.embed_tokens.weight")
        sd["model.norm.weight"] = t("model.norm.weight")
        if not cfg.tie_word_embeddings:
            sd["lm_head.weight"] = t("lm_head.weight")
        for l in range(layers):
            p = f"model.layers.{l}."
            qkv = t(p + "self_attn.qkv_proj.weight")
            sd[p + "self_attn.q_proj.weight"] = qkv[: heads * hd]
            sd[p + "self_attn.k_proj.weight"] = qkv[heads * hd: (heads + kv) * hd]
            sd[p + "self_attn.v_proj.weight"] = qkv[(heads + kv) * hd:]
            sd[p + "self_attn.o_proj.weight"] = t(p + "self_attn.o_proj.weight")
            gu = t(p + "mlp.gate_up_proj.weight")
            sd[p + "mlp.gate_proj.weight"] = gu[:inter]
            sd[p + "mlp.up_proj.weight"] = gu[inter:]
            sd[p + "mlp.down_proj.weight"] = t(p + "mlp.down_proj.weight")
            sd[p + "input_layernorm.weight"] = t(p + "input_layernorm.weight")
            sd[p + "post_attention_layernorm.weight"] = t(p + "post_attention_layernorm.weight")
        missing, unexpected = model.load_state_dict(sd, strict=False)
        missing = [m for m in missing if not (cfg.tie_word_embeddings and m == "lm_head.weight")]
        if missing or unexpected:
            raise SystemExit(f"weights do not match: missing {missing[:5]}, unexpected {unexpected[:5]}")
        if cfg.tie_word_embeddings:
            model.tie_weights()
    return model, cfg


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=1)
    args = ap.parse_args()

    import torch
    import transformers

    torch.set_num_threads(args.threads)
    model, cfg = load_llama(args.model)
    torch.manual_seed(7)
    ids = torch.randint(3, cfg.vocab_size, (args.batch, args.seq))
    mask = torch.ones_like(ids)

    def forward():
        with torch.inference_mode():
            hidden = model.model(input_ids=ids, attention_mask=mask, use_cache=True).last_hidden_state
            return model.lm_head(hidden[:, -1:, :])

    forward()  # warm-up
    times = []
    for _ in range(args.reps):
        t0 = time.perf_counter()
        forward()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"measure": "pytorch prefill", "torch": torch.__version__, "transformers": transformers.__version__,
                      "threads": args.threads, "batch": args.batch, "seq": args.seq, "seconds": round(median, 3),
                      "tokens_per_s": round(args.batch * args.seq / median, 1)}), flush=True)


if __name__ == "__main__":
    main()
