#!/usr/bin/env python3
"""Independent numpy reference for SmolLM2-135M-Instruct read from its GGUF (issue 20).

Library part: the GGUF loader (weights dequantized with the `gguf` package), a
Hugging Face `tokenizers` tokenizer rebuilt from the GGUF vocabulary and merges,
the ChatML renderer, and a plain Llama forward pass with a KV cache written in
numpy (float64 for the golden values; float32 and "bf16 weights, fp32 compute"
to measure how far cheaper arithmetic drifts). tools/golden/make_smollm2_golden.py
uses it to write tests/golden/fixtures/smollm2/.

Nothing here comes from the C++ engine: the architecture follows
/work/shared/docs/PRETRAINED-BASE.md section 2.4 (Llama; RMSNorm; GQA 9:3 with
query head h reading KV head h // 3; RoPE theta from llama.rope.freq_base;
SiLU-GLU; tied LM head; no bias, no embedding scaling).

RoPE. The GGUF stores the rows of Wq / Wk of every head interleaved (HF row
a*32 + j is GGUF row 2j + a), so on GGUF rows the rotation pairs (2j, 2j+1).
By default the weights are un-permuted to Hugging Face order and the rotation
is HF's rotate_half on (j, j + 32) (`layout="hf"`); `layout="gguf"` keeps the
file's rows and rotates adjacent pairs. Both give the same logits (checked by
the fixture script).
"""
from __future__ import annotations

import hashlib
import os
import time

import numpy as np

import gguf
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"
CONTROL_TOKEN_TYPE = 3  # gguf TokenType.CONTROL


def sha256_of(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_gguf_path() -> str:
    cache = os.environ.get("PERSONAS_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "personas"))
    return os.path.join(cache, "models", "smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")


# ---------------------------------------------------------------------------------------------
# GGUF


class GGUFModelFile:
    """Metadata, tokenizer fields and the dequantized (float32) tensors of one GGUF file."""

    def __init__(self, path: str):
        self.path = path
        self.reader = gguf.GGUFReader(path)
        f = self.reader.fields
        assert self.field("general.architecture") == "llama", self.field("general.architecture")
        self.n_embd = int(self.field("llama.embedding_length"))
        self.n_layer = int(self.field("llama.block_count"))
        self.n_ff = int(self.field("llama.feed_forward_length"))
        self.n_head = int(self.field("llama.attention.head_count"))
        self.n_head_kv = int(self.field("llama.attention.head_count_kv"))
        # Stored as f32 in the file; float() keeps that exact value (9.99999974737875e-06 for 1e-5).
        self.eps = float(self.field("llama.attention.layer_norm_rms_epsilon"))
        self.rope_theta = float(self.field("llama.rope.freq_base"))
        self.rope_dim = int(self.field("llama.rope.dimension_count"))
        self.head_dim = self.n_embd // self.n_head
        assert self.rope_dim == self.head_dim, "partial rotary is not handled"
        for key in f:
            assert not key.startswith("llama.rope.scaling"), f"rope scaling key {key} is not handled"
        self.tokens = list(self.field("tokenizer.ggml.tokens"))
        self.merges = list(self.field("tokenizer.ggml.merges"))
        self.token_types = [int(t) for t in self.field("tokenizer.ggml.token_type")]
        self.chat_template = self.field("tokenizer.chat_template")
        self.tensors: dict[str, np.ndarray] = {}
        self.tensor_types: dict[str, str] = {}
        for t in self.reader.tensors:
            a = gguf.quants.dequantize(t.data, t.tensor_type)
            shape = tuple(int(n) for n in reversed(t.shape.tolist()))  # ne is (ne0, ne1): row-major [ne1][ne0]
            a = np.ascontiguousarray(np.asarray(a, dtype=np.float32).reshape(shape))
            self.tensors[t.name] = a
            self.tensor_types[t.name] = t.tensor_type.name

    def field(self, key: str):
        return self.reader.fields[key].contents()


# ---------------------------------------------------------------------------------------------
# Tokenizer and chat template


def build_tokenizer(mf: GGUFModelFile) -> Tokenizer:
    """Byte-level BPE from the GGUF vocab + merges; digits split one by one; control tokens special."""
    vocab = {tok: i for i, tok in enumerate(mf.tokens)}
    assert len(vocab) == len(mf.tokens), "duplicate token strings"
    merges = []
    for m in mf.merges:
        parts = m.split(" ")
        assert len(parts) == 2, f"merge {m!r} is not two pieces"
        merges.append((parts[0], parts[1]))
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    )
    tok.decoder = decoders.ByteLevel()
    control_ids = [i for i, t in enumerate(mf.token_types) if t == CONTROL_TOKEN_TYPE]
    assert control_ids == list(range(17)), control_ids
    tok.add_special_tokens(
        [AddedToken(mf.tokens[i], special=True, normalized=False, single_word=False, lstrip=False, rstrip=False)
         for i in control_ids]
    )
    assert tok.get_vocab_size(with_added_tokens=True) == len(mf.tokens)
    for i in control_ids:
        assert tok.token_to_id(mf.tokens[i]) == i
    return tok


def encode(tok: Tokenizer, text: str) -> list[int]:
    return tok.encode(text, add_special_tokens=False).ids


def render_chatml(messages: list[dict], add_generation_prompt: bool = True) -> str:
    """tokenizer.chat_template of the file, written out (default system prompt when none is given)."""
    out = ""
    for i, m in enumerate(messages):
        if i == 0 and messages[0]["role"] != "system":
            out += "<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n"
        out += "<|im_start|>" + m["role"] + "\n" + m["content"] + "<|im_end|>\n"
    if add_generation_prompt:
        out += "<|im_start|>assistant\n"
    return out


# ---------------------------------------------------------------------------------------------
# Forward pass


def round_to_bf16(a: np.ndarray) -> np.ndarray:
    """float32 -> nearest bfloat16 (ties to even), returned as float32. No NaN/Inf in these weights."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    assert np.isfinite(a).all()
    bits = a.view(np.uint32).astype(np.uint64)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000
    return bits.astype(np.uint32).view(np.float32)


def unpermute_rows(w: np.ndarray, n_head: int) -> np.ndarray:
    """GGUF interleaved q/k rows (2j + a) -> Hugging Face half-split rows (a*32 + j), per head."""
    rows, cols = w.shape
    hd = rows // n_head
    return np.ascontiguousarray(w.reshape(n_head, hd // 2, 2, cols).swapaxes(1, 2).reshape(rows, cols))


class KVCache:
    def __init__(self, n_layer: int):
        self.k: list[np.ndarray | None] = [None] * n_layer
        self.v: list[np.ndarray | None] = [None] * n_layer
        self.length = 0


class Llama:
    """Llama forward on the dequantized GGUF weights.

    dtype: numpy float type of weights and all arithmetic (float64 or float32).
    layout: "hf" (un-permuted q/k, rotate_half) or "gguf" (file rows, adjacent pairs).
    bf16_matrices: round every 2-D weight (token_embd = LM head, q, k, v, o, gate, up, down) to bf16 first;
    bf16_norms: also round the RMSNorm weight vectors.
    """

    def __init__(self, mf: GGUFModelFile, dtype=np.float64, layout: str = "hf",
                 bf16_matrices: bool = False, bf16_norms: bool = False):
        assert layout in ("hf", "gguf")
        self.dtype = np.dtype(dtype)
        self.layout = layout
        self.n_layer, self.n_head, self.n_head_kv = mf.n_layer, mf.n_head, mf.n_head_kv
        self.head_dim, self.eps, self.theta = mf.head_dim, mf.eps, mf.rope_theta
        self.group = self.n_head // self.n_head_kv

        def get(name: str, matrix: bool) -> np.ndarray:
            a = mf.tensors[name]
            if (bf16_matrices and matrix) or (bf16_norms and not matrix):
                a = round_to_bf16(a)
            return np.ascontiguousarray(a, dtype=self.dtype)

        self.emb = get("token_embd.weight", True)
        self.out_norm = get("output_norm.weight", False)
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            wq, wk = get(p + "attn_q.weight", True), get(p + "attn_k.weight", True)
            if layout == "hf":
                wq, wk = unpermute_rows(wq, self.n_head), unpermute_rows(wk, self.n_head_kv)
            self.layers.append(dict(
                attn_norm=get(p + "attn_norm.weight", False), wq=wq, wk=wk, wv=get(p + "attn_v.weight", True),
                wo=get(p + "attn_output.weight", True), ffn_norm=get(p + "ffn_norm.weight", False),
                wg=get(p + "ffn_gate.weight", True), wu=get(p + "ffn_up.weight", True),
                wd=get(p + "ffn_down.weight", True)))
        # Inverse frequencies theta^(-2i/d), i = 0..d/2-1, in float64 for every dtype.
        self.inv_freq = self.theta ** (-np.arange(0, self.head_dim, 2, dtype=np.float64) / self.head_dim)

    def rmsnorm(self, x: np.ndarray, w: np.ndarray) -> np.ndarray:
        ms = np.mean(x * x, axis=-1, keepdims=True)
        return x * (self.dtype.type(1.0) / np.sqrt(ms + self.dtype.type(self.eps))) * w

    def rope(self, x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
        """x: [T, heads, head_dim]; cos/sin: [T, head_dim/2] (angles pos * inv_freq[j])."""
        c, s = cos[:, None, :], sin[:, None, :]
        half = self.head_dim // 2
        if self.layout == "hf":  # pairs (j, j + half)
            x1, x2 = x[..., :half], x[..., half:]
            return np.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis=-1)
        x1, x2 = x[..., 0::2], x[..., 1::2]  # pairs (2j, 2j + 1)
        out = np.empty_like(x)
        out[..., 0::2] = x1 * c - x2 * s
        out[..., 1::2] = x2 * c + x1 * s
        return out

    def forward(self, ids: list[int], cache: KVCache | None = None, all_logits: bool = False) -> np.ndarray:
        """Run `ids` after what `cache` holds; return the last position's logits (or every position's)."""
        if cache is None:
            cache = KVCache(self.n_layer)
        dt = self.dtype.type
        T, p0 = len(ids), cache.length
        hd, nh, nkv, g = self.head_dim, self.n_head, self.n_head_kv, self.group
        ang = np.arange(p0, p0 + T, dtype=np.float64)[:, None] * self.inv_freq[None, :]
        cos, sin = np.cos(ang).astype(self.dtype), np.sin(ang).astype(self.dtype)
        S = p0 + T
        # Causal: query t (absolute position p0 + t) sees keys 0..p0 + t.
        mask = np.arange(S)[None, :] <= (p0 + np.arange(T))[:, None]
        scale = dt(1.0 / np.sqrt(hd))
        x = self.emb[np.asarray(ids)]
        with np.errstate(over="ignore"):
            for li, L in enumerate(self.layers):
                h = self.rmsnorm(x, L["attn_norm"])
                q = self.rope((h @ L["wq"].T).reshape(T, nh, hd), cos, sin)
                k = self.rope((h @ L["wk"].T).reshape(T, nkv, hd), cos, sin)
                v = (h @ L["wv"].T).reshape(T, nkv, hd)
                K = k if cache.k[li] is None else np.concatenate([cache.k[li], k], axis=0)
                V = v if cache.v[li] is None else np.concatenate([cache.v[li], v], axis=0)
                cache.k[li], cache.v[li] = K, V
                # Query head h = kv * g + r reads KV head h // g = kv.
                qg = q.reshape(T, nkv, g, hd).transpose(1, 2, 0, 3)           # [kv, r, T, hd]
                scores = (qg @ K.transpose(1, 2, 0)[:, None]) * scale          # [kv, r, T, S]
                scores = np.where(mask, scores, dt(-np.inf))
                scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
                probs = scores / scores.sum(axis=-1, keepdims=True)
                att = (probs @ V.transpose(1, 0, 2)[:, None])                  # [kv, r, T, hd]
                att = att.transpose(2, 0, 1, 3).reshape(T, nh * hd)
                x = x + att @ L["wo"].T
                h = self.rmsnorm(x, L["ffn_norm"])
                gate = h @ L["wg"].T
                up = h @ L["wu"].T
                x = x + ((gate / (dt(1.0) + np.exp(-gate))) * up) @ L["wd"].T
        cache.length = S
        xs = x if all_logits else x[-1:]
        logits = self.rmsnorm(xs, self.out_norm) @ self.emb.T
        return logits if all_logits else logits[0]

    def greedy(self, ids: list[int], max_new: int, stop=(2, 0), top_k: int = 5, timing: dict | None = None):
        """Greedy decoding with a KV cache. Returns (prompt logits, steps); each step is a dict with the
        chosen id, the top-1 minus top-2 logit gap and the top_k ids / values of that step's logits.
        `timing`, if given, gets the prefill and decode wall times in seconds."""
        cache = KVCache(self.n_layer)
        t0 = time.perf_counter()
        logits = self.forward(ids, cache)
        t1 = time.perf_counter()
        first = logits
        steps = []
        for _ in range(max_new):
            order = top_indices(logits, top_k)
            chosen = int(order[0])
            steps.append(dict(id=chosen, gap=float(logits[order[0]] - logits[order[1]]),
                              top_ids=[int(i) for i in order], top_values=[float(logits[i]) for i in order]))
            if chosen in stop:
                break
            logits = self.forward([chosen], cache)
        if timing is not None:
            timing.update(prefill_s=t1 - t0, decode_s=time.perf_counter() - t1)
        return first, steps


def top_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """The k largest, largest first; ties broken by the smaller id (stable)."""
    order = np.argsort(-logits, kind="stable")
    return order[:k]


def logsumexp(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64)
    m = float(x.max())
    return m + float(np.log(np.sum(np.exp(x - m))))
