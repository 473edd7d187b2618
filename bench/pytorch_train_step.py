#!/usr/bin/env python3
"""The PyTorch side of `personas bench train-step`: the same random Phi-3
shape and batch, LoRA via PEFT, one forward + backward per step, in eager
mode on the CPU with the same thread count; then it runs our bench in the
same invocation and prints the ratio.

    /work/venvs/golden/bin/python bench/pytorch_train_step.py \
        --personas build/personas [--hidden 512 --layers 8 --seq 256 --batch 8 \
        --answer-tokens 64 --threads 2 --steps 3]

Needs torch (Debian python3-torch 1.13 is fine), transformers >= 4.40 (Phi3)
and peft; the venv /work/venvs/golden has torch 1.13 + transformers 4.44.2 +
peft 0.12.0. Not used by CI.

Like transformers' own training, the loss is taken over answer tokens only
(labels -100 elsewhere) but PyTorch computes the lm_head logits at every
position; `--slice-logits` projects only the answer positions instead (what
our engine does), for a like-for-like head.
"""
import argparse
import re
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--personas", help="path of the personas binary (runs our bench too and prints the ratio)")
    ap.add_argument("--hidden", type=int, default=512)
    ap.add_argument("--layers", type=int, default=8)
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--kv-heads", type=int, default=0, help="0 = heads")
    ap.add_argument("--arch", choices=["phi3", "llama"], default="phi3",
                    help="llama: LlamaForCausalLM with separate q/k/v, gate/up (SmolLM2's layout; PEFT on q_proj ...)")
    ap.add_argument("--intermediate", type=int, default=0, help="0 = hidden*8/3 rounded up to 64")
    ap.add_argument("--vocab", type=int, default=32064)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--answer-tokens", type=int, default=64)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--targets", default="q,k", help="comma list among q,k,v,o_proj,gate_up_proj,down_proj")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--slice-logits", action="store_true")
    args = ap.parse_args()

    import torch
    import transformers
    import peft
    from transformers import LlamaConfig, LlamaForCausalLM, Phi3Config, Phi3ForCausalLM

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    inter = args.intermediate or (args.hidden * 8 // 3 + 63) // 64 * 64
    kv_heads = args.kv_heads or args.heads
    if args.arch == "llama":
        cfg = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=inter,
                          num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=kv_heads,
                          max_position_embeddings=max(4096, args.seq), rope_theta=100000.0, rms_norm_eps=1e-5,
                          tie_word_embeddings=False, attn_implementation="eager", pad_token_id=0, bos_token_id=1,
                          eos_token_id=2)
        model = LlamaForCausalLM(cfg).float()
        # Llama keeps q, k, v and gate, up separate: each of our targets is one PEFT module (gate_up: two).
        names = {"q": ["q_proj"], "k": ["k_proj"], "v": ["v_proj"], "o_proj": ["o_proj"],
                 "gate_up_proj": ["gate_proj", "up_proj"], "down_proj": ["down_proj"]}
    else:
        cfg = Phi3Config(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=inter,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads, num_key_value_heads=kv_heads,
                         max_position_embeddings=max(4096, args.seq),
                         original_max_position_embeddings=max(4096, args.seq), rope_theta=10000.0, rms_norm_eps=1e-5,
                         sliding_window=None, tie_word_embeddings=False, attn_implementation="eager", pad_token_id=0,
                         bos_token_id=1, eos_token_id=2)
        model = Phi3ForCausalLM(cfg).float()
        # Our q/k/v targets are slices of the fused qkv_proj; PEFT adapts whole
        # modules, so q,k -> qkv_proj (a rank-r adapter over q|k|v: slightly more work).
        names = {"q": ["qkv_proj"], "k": ["qkv_proj"], "v": ["qkv_proj"], "o_proj": ["o_proj"],
                 "gate_up_proj": ["gate_up_proj"], "down_proj": ["down_proj"]}
    model.train()
    modules = sorted({m for t in args.targets.split(",") for m in names[t]})
    lora = peft.LoraConfig(r=args.rank, lora_alpha=2 * args.rank, lora_dropout=0.0, target_modules=modules)
    model = peft.get_peft_model(model, lora)

    ids = torch.randint(3, args.vocab, (args.batch, args.seq))
    labels = ids.clone()
    labels[:, : args.seq - args.answer_tokens] = -100
    mask = torch.ones_like(ids)

    def step():
        if args.slice_logits:
            out = model.base_model.model.model(input_ids=ids, attention_mask=mask)
            h = out.last_hidden_state[:, args.seq - args.answer_tokens - 1 : -1, :]
            logits = model.base_model.model.lm_head(h)
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, args.vocab).float(),
                                                     ids[:, args.seq - args.answer_tokens :].reshape(-1))
        else:
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        model.zero_grad(set_to_none=True)
        return loss.item()

    step()  # warm-up
    times = []
    for _ in range(args.steps):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    times.sort()
    median = times[len(times) // 2]
    torch_tps = args.batch * args.seq / median
    print(f"pytorch {torch.__version__} transformers {transformers.__version__} peft {peft.__version__}, "
          f"{args.threads} threads, LoRA on {modules}, logits {'sliced' if args.slice_logits else 'all positions'}")
    print(f"pytorch train-step: {median:.3f} s/step (median of {args.steps}), {torch_tps:.0f} tokens/s")

    if args.personas:
        cmd = [args.personas, "bench", "train-step", "--hidden", str(args.hidden), "--layers", str(args.layers),
               "--heads", str(args.heads), "--kv-heads", str(kv_heads), "--intermediate", str(inter),
               "--vocab", str(args.vocab),
               "--seq", str(args.seq), "--batch", str(args.batch), "--answer-tokens", str(args.answer_tokens),
               "--rank", str(args.rank), "--steps", str(args.steps), "--run.threads", str(args.threads),
               "--targets", *args.targets.split(",")]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        sys.stdout.write(out)
        m = re.search(r"([0-9.]+) tokens/s,", out)
        ours = float(m.group(1))
        print(f"ratio personas / pytorch: {ours / torch_tps:.2f}x")


if __name__ == "__main__":
    main()
