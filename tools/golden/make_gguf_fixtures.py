#!/usr/bin/env python3
"""GGUF fixtures for the C++ reader and dequantizers (src/io/gguf*.h, issue 20).

Writes into tests/golden/fixtures/gguf/ (see the README.md there):
  quant-<TYPE>.gguf / quant-<TYPE>.f32  one small file per ggml type with two
      4 x 256 tensors (16 x 256 for the K-quants), "quantized" (gguf.quants.quantize of N(0,1) data, where
      the package can quantize that type) and "random_blocks" (random but
      valid blocks: random finite f16 scales, random quant bits; for F16/BF16/
      F32 random finite values plus the special values), and the values
      gguf.quants.dequantize gives for them (raw little-endian f32, the
      tensors one after the other in file order);
  quants.json       per file: its tensors, their ggml type, shape and where
      their values start in the .f32 file;
  kv-types.gguf     every metadata value type (scalars, strings, arrays of each,
      an array of arrays), general.alignment = 64, two tensors;
  tiny-llama.gguf   a tiny random llama-arch model with the full llama and
      gpt2-tokenizer metadata of SmolLM2, its matrices spread over every type;
  tiny-llama.json   its metadata and, per tensor, type, shape, the values
      checksum (below) and a few values (index, float, u32 bits);
  smollm2-expected.json (with --smollm2 PATH) a few values and the values
      checksums of some tensors of the real SmolLM2-135M-Instruct Q4_1 file.

Values checksum (cheap in numpy and C++, order sensitive): with b_i the u32
bits of value i, sum over i of mix64((i << 32) | b_i) modulo 2^64, where mix64
is SplitMix64's output function (core/hash.h). Written as 16 hex digits.

Run (the venv has gguf and numpy):
  /root/.cache/personas/venv-tools/bin/python tools/golden/make_gguf_fixtures.py \
      [--smollm2 ~/.cache/personas/models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf]
Deterministic: fixed seeds, so running it again gives identical files.
"""
import argparse
import json
import os
import sys

import numpy as np

import gguf
from gguf import GGMLQuantizationType as T
from gguf import GGUFValueType as V

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.normpath(os.path.join(HERE, "..", "..", "tests", "golden", "fixtures", "gguf"))

TYPES = [T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0, T.Q4_K, T.Q5_K, T.Q6_K]
# gguf.quants can quantize these (the K-quants only dequantize).
QUANTIZABLE = {T.F32, T.F16, T.BF16, T.Q4_0, T.Q4_1, T.Q5_0, T.Q5_1, T.Q8_0}

# ---- helpers -------------------------------------------------------------------

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(z):
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def values_checksum(values):
    bits = np.ascontiguousarray(values, dtype=np.float32).reshape(-1).view(np.uint32).astype(np.uint64)
    total = np.uint64(0)
    step = 1 << 22
    with np.errstate(over="ignore"):
        for start in range(0, bits.size, step):
            chunk = bits[start:start + step]
            idx = np.arange(start, start + chunk.size, dtype=np.uint64)
            total = np.uint64(total + np.sum(mix64((idx << np.uint64(32)) | chunk), dtype=np.uint64))
    return f"{int(total):016x}"


def sample_values(values, n_pick=6):
    flat = np.ascontiguousarray(values, dtype=np.float32).reshape(-1)
    n = flat.size
    picks = sorted(set([0, 1, n // 3, n // 2, (2 * n) // 3, n - 1][:n_pick])) if n else []
    return [{"index": int(i), "value": float(flat[i]), "bits": f"{int(flat[i:i+1].view(np.uint32)[0]):08x}"}
            for i in picks]


def random_finite_f16(rng, n, lo_exp=None, hi_exp=None):
    """Random f16 bit patterns that are finite (any sign, subnormals included).
    With lo_exp/hi_exp the exponent field is drawn from [lo_exp, hi_exp]."""
    bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32)
    if lo_exp is not None:
        exp = rng.integers(lo_exp, hi_exp + 1, size=n, dtype=np.uint32)
        bits = (bits & np.uint32(0x83FF)) | (exp << np.uint32(10))
    else:
        exp = (bits >> np.uint32(10)) & np.uint32(0x1F)
        bits = np.where(exp == 0x1F, bits & np.uint32(0xBFFF), bits)  # exponent 31 -> 15: finite
    return bits.astype(np.uint16)


def random_blocks(rng, qtype, n_blocks):
    """Random valid blocks of a quantized type: every f16 scale finite."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    blocks = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
    # offsets of the f16 fields in each block
    f16_fields = {
        T.Q4_0: [0], T.Q4_1: [0, 2], T.Q5_0: [0], T.Q5_1: [0, 2], T.Q8_0: [0],
        T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208],
    }[qtype]
    for off in f16_fields:
        # Mostly realistic scales (2^-14 .. 2^0), some of any finite value
        # (subnormal, zero, huge) to exercise the exact conversion.
        scale = random_finite_f16(rng, n_blocks, 1, 15)
        wild = random_finite_f16(rng, n_blocks)
        use_wild = rng.random(n_blocks) < 0.25
        scale = np.where(use_wild, wild, scale).astype(np.uint16)
        if n_blocks >= 4:
            scale[0] = 0x0001  # smallest subnormal
            scale[1] = 0x8000  # -0
            scale[2] = 0x7BFF  # 65504, the largest finite
            scale[3] = 0x83FF  # negative subnormal
        blocks[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
    return blocks


def special_float_bits(qtype):
    """Edge values for the float types, as raw bits of that type."""
    if qtype == T.F16:
        return np.array([0x0000, 0x8000, 0x0001, 0x8001, 0x03FF, 0x0400, 0x3C00, 0xBC00, 0x7BFF, 0xFBFF,
                         0x7C00, 0xFC00, 0x7E00, 0xFE00, 0x7E01, 0x3555], dtype=np.uint16)
    if qtype == T.BF16:
        return np.array([0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x3F80, 0xBF80, 0x7F7F, 0xFF7F,
                         0x7F80, 0xFF80, 0x7FC0, 0xFFC0, 0x7FC1, 0x3EAB, 0x4049], dtype=np.uint16)
    return np.array([0x00000000, 0x80000000, 0x00000001, 0x007FFFFF, 0x00800000, 0x3F800000, 0xBF800000,
                     0x7F7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0x7FC00001, 0x3EAAAAAB, 0x40490FDB,
                     0xC0490FDB, 0x1E3CE508], dtype=np.uint32)


def random_float_bytes(rng, qtype, n):
    """n random finite values of a float type (as raw bytes), the specials first."""
    special = special_float_bits(qtype)
    if qtype == T.F16:
        bits = random_finite_f16(rng, n)
    elif qtype == T.BF16:
        bits = rng.integers(0, 1 << 16, size=n, dtype=np.uint32)
        exp = (bits >> np.uint32(7)) & np.uint32(0xFF)
        bits = np.where(exp == 0xFF, bits & np.uint32(0xBFFF), bits).astype(np.uint16)
    else:
        bits = rng.integers(0, 1 << 32, size=n, dtype=np.uint64).astype(np.uint32)
        exp = (bits >> np.uint32(23)) & np.uint32(0xFF)
        bits = np.where(exp == 0xFF, bits & np.uint32(0xBFFFFFFF), bits).astype(np.uint32)
    bits[:special.size] = special
    return bits.view(np.uint8)


def tensor_bytes(rng, qtype, rows, cols, how):
    """(uint8 array [rows, bytes per row]) for a tensor of `rows` x `cols` values."""
    block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
    if how == "quantized":
        data = rng.standard_normal((rows, cols)).astype(np.float32)
        if qtype == T.F32:
            return data.view(np.uint8).reshape(rows, -1)
        if qtype == T.F16:
            return data.astype(np.float16).view(np.uint8).reshape(rows, -1)
        return gguf.quants.quantize(data, qtype).reshape(rows, -1)
    if qtype in (T.F32, T.F16, T.BF16):
        return random_float_bytes(rng, qtype, rows * cols).reshape(rows, -1)
    n_blocks = rows * cols // block_size
    return random_blocks(rng, qtype, n_blocks).reshape(rows, -1)


def dequantize(raw, qtype):
    return np.ascontiguousarray(gguf.quants.dequantize(raw, qtype), dtype=np.float32)


def add_raw_tensor(writer, name, raw, qtype):
    # uint8 rows of blocks: the writer derives the value shape from the byte shape
    writer.add_tensor(name, raw, raw_shape=raw.shape, raw_dtype=qtype)


def write(writer):
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def relpath(p):
    return os.path.relpath(p, OUT)


# ---- (1) one file per ggml type ----------------------------------------------------


def make_quant_files(rng, manifest):
    cols = 256
    for qtype in TYPES:
        name = qtype.name
        rows = 16 if gguf.GGML_QUANT_SIZES[qtype][0] == 256 else 4  # K-quants: 16 blocks
        path = os.path.join(OUT, f"quant-{name}.gguf")
        writer = gguf.GGUFWriter(path, "fixture")
        writer.add_string("fixture.ggml_type", name)
        values = []
        infos = []
        offset = 0
        kinds = (["quantized"] if qtype in QUANTIZABLE else []) + ["random_blocks"]
        for kind in kinds:
            raw = tensor_bytes(rng, qtype, rows, cols, kind)
            add_raw_tensor(writer, kind, raw, qtype)
            v = dequantize(raw, qtype)
            assert v.shape == (rows, cols), (name, kind, v.shape)
            values.append(v.reshape(-1))
            infos.append({"name": kind, "ne": [cols, rows], "n_values": rows * cols, "value_offset": offset,
                          "n_bytes": int(raw.size), "checksum": values_checksum(v)})
            offset += rows * cols
        write(writer)
        expected = os.path.join(OUT, f"quant-{name}.f32")
        np.concatenate(values).astype("<f4").tofile(expected)
        manifest[name] = {"file": relpath(path), "expected": relpath(expected), "type_id": int(qtype),
                          "tensors": infos}


# ---- (2) every metadata value type --------------------------------------------------


def make_kv_types(rng):
    path = os.path.join(OUT, "kv-types.gguf")
    writer = gguf.GGUFWriter(path, "fixture")
    writer.add_custom_alignment(64)
    writer.add_uint8("t.u8", 200)
    writer.add_int8("t.i8", -100)
    writer.add_uint16("t.u16", 60000)
    writer.add_int16("t.i16", -30000)
    writer.add_uint32("t.u32", 4000000000)
    writer.add_int32("t.i32", -2000000000)
    writer.add_float32("t.f32", 0.1)
    writer.add_bool("t.bool_true", True)
    writer.add_bool("t.bool_false", False)
    writer.add_string("t.string", "héllo, ☃ world")
    writer.add_key_value("t.empty_string", "", V.STRING)  # add_string() skips empty strings
    writer.add_uint64("t.u64", 18000000000000000000)
    writer.add_uint64("t.u64_small", 12345)
    writer.add_int64("t.i64", -9000000000000000000)
    writer.add_float64("t.f64", 2.718281828459045)
    writer.add_key_value("t.arr_u8", [1, 2, 255], V.ARRAY, sub_type=V.UINT8)
    writer.add_key_value("t.arr_i8", [-1, 0, 127], V.ARRAY, sub_type=V.INT8)
    writer.add_key_value("t.arr_u16", [0, 65535], V.ARRAY, sub_type=V.UINT16)
    writer.add_key_value("t.arr_i16", [-32768, 32767], V.ARRAY, sub_type=V.INT16)
    writer.add_key_value("t.arr_u32", [7, 4294967295], V.ARRAY, sub_type=V.UINT32)
    writer.add_key_value("t.arr_i32", [-5, 3, 1, 1], V.ARRAY, sub_type=V.INT32)
    writer.add_key_value("t.arr_u64", [1, 2, 3], V.ARRAY, sub_type=V.UINT64)
    writer.add_key_value("t.arr_i64", [-(2**62), 2**62], V.ARRAY, sub_type=V.INT64)
    writer.add_key_value("t.arr_f32", [0.5, -1.25, 3.0e38], V.ARRAY, sub_type=V.FLOAT32)
    writer.add_key_value("t.arr_f64", [0.1, -2.5], V.ARRAY, sub_type=V.FLOAT64)
    writer.add_key_value("t.arr_bool", [True, False, True], V.ARRAY, sub_type=V.BOOL)
    writer.add_key_value("t.arr_string", ["a", "", "ĠHello", "<|im_end|>"], V.ARRAY, sub_type=V.STRING)
    writer.add_key_value("t.arr_nested", [[1, 2], [3, 4, 5]], V.ARRAY, sub_type=V.ARRAY)
    a = rng.standard_normal((2, 64)).astype(np.float32)
    writer.add_tensor("a", a)
    b = gguf.quants.quantize(rng.standard_normal((3, 32)).astype(np.float32), T.Q8_0)
    add_raw_tensor(writer, "b", b, T.Q8_0)
    write(writer)
    return {"file": relpath(path), "a_checksum": values_checksum(a),
            "b_checksum": values_checksum(dequantize(b, T.Q8_0))}


# ---- (3) a tiny llama-arch model ------------------------------------------------------

CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")


def bytes_to_unicode():
    """GPT-2's byte -> character table, in GPT-2's order (printable bytes first)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


TINY = {
    "n_layers": 2, "hidden": 256, "n_heads": 4, "n_kv_heads": 2, "ffn": 512, "context": 2048,
    "rope_theta": 100000.0, "rms_eps": 1e-5,
}
# The type of each matrix; together they cover every supported type.
TINY_TYPES = {
    "token_embd.weight": T.Q8_0,
    "blk.0.attn_q.weight": T.Q4_1, "blk.0.attn_k.weight": T.Q4_0, "blk.0.attn_v.weight": T.Q5_0,
    "blk.0.attn_output.weight": T.Q5_1, "blk.0.ffn_gate.weight": T.Q4_K, "blk.0.ffn_up.weight": T.Q5_K,
    "blk.0.ffn_down.weight": T.Q6_K,
    "blk.1.attn_q.weight": T.F16, "blk.1.attn_k.weight": T.BF16, "blk.1.attn_v.weight": T.F32,
    "blk.1.attn_output.weight": T.Q8_0, "blk.1.ffn_gate.weight": T.Q4_1, "blk.1.ffn_up.weight": T.Q4_K,
    "blk.1.ffn_down.weight": T.Q6_K,
}


def tiny_vocab():
    control = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    chars = bytes_to_unicode()
    merges = ["Ġ t", "h e", "Ġt he", "i n", "Ġ a", "e r", "Ġ s", "o n"]
    merged = [m.replace(" ", "") for m in merges]
    tokens = control + chars + merged
    types = [3] * len(control) + [1] * (len(chars) + len(merged))
    return tokens, merges, types


def tiny_matrix(rng, name, rows, cols, qtype):
    """(raw uint8 rows, dequantized f32 [rows, cols]) for one matrix."""
    if qtype in QUANTIZABLE:
        data = (0.02 * rng.standard_normal((rows, cols))).astype(np.float32)
        if qtype == T.F32:
            raw = data.view(np.uint8).reshape(rows, -1)
        elif qtype == T.F16:
            raw = data.astype(np.float16).view(np.uint8).reshape(rows, -1)
        else:
            raw = gguf.quants.quantize(data, qtype).reshape(rows, -1)
    else:
        # K-quants: random valid blocks with small, realistic scales.
        block_size, type_size = gguf.GGML_QUANT_SIZES[qtype]
        n_blocks = rows * cols // block_size
        raw = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)
        fields = {T.Q4_K: [0, 2], T.Q5_K: [0, 2], T.Q6_K: [208]}[qtype]
        for off in fields:
            scale = (rng.uniform(1e-4, 1e-3, size=n_blocks)).astype(np.float16)
            raw[:, off:off + 2] = scale.view(np.uint8).reshape(n_blocks, 2)
        raw = raw.reshape(rows, -1)
    return raw, dequantize(raw, qtype).reshape(rows, cols)


def make_tiny_llama(rng):
    c = TINY
    head_dim = c["hidden"] // c["n_heads"]
    kv_dim = head_dim * c["n_kv_heads"]
    tokens, merges, token_types = tiny_vocab()
    vocab = len(tokens)
    path = os.path.join(OUT, "tiny-llama.gguf")
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_type("model")
    writer.add_name("Tiny Llama Fixture")
    writer.add_basename("tiny-llama")
    writer.add_size_label("1M")
    writer.add_license("apache-2.0")
    writer.add_block_count(c["n_layers"])
    writer.add_context_length(c["context"])
    writer.add_embedding_length(c["hidden"])
    writer.add_feed_forward_length(c["ffn"])
    writer.add_head_count(c["n_heads"])
    writer.add_head_count_kv(c["n_kv_heads"])
    writer.add_rope_freq_base(c["rope_theta"])
    writer.add_layer_norm_rms_eps(c["rms_eps"])
    writer.add_file_type(3)
    writer.add_vocab_size(vocab)
    writer.add_rope_dimension_count(head_dim)
    writer.add_add_space_prefix(False)
    writer.add_add_bos_token(False)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(token_types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_chat_template(CHAT_TEMPLATE)
    writer.add_quantization_version(2)

    shapes = {"token_embd.weight": (vocab, c["hidden"])}
    for i in range(c["n_layers"]):
        shapes.update({
            f"blk.{i}.attn_q.weight": (c["hidden"], c["hidden"]),
            f"blk.{i}.attn_k.weight": (kv_dim, c["hidden"]),
            f"blk.{i}.attn_v.weight": (kv_dim, c["hidden"]),
            f"blk.{i}.attn_output.weight": (c["hidden"], c["hidden"]),
            f"blk.{i}.ffn_gate.weight": (c["ffn"], c["hidden"]),
            f"blk.{i}.ffn_up.weight": (c["ffn"], c["hidden"]),
            f"blk.{i}.ffn_down.weight": (c["hidden"], c["ffn"]),
        })
    tensors = []

    def norm(name):
        w = (1.0 + 0.1 * rng.standard_normal(c["hidden"])).astype(np.float32)
        writer.add_tensor(name, w)
        tensors.append((name, T.F32, [c["hidden"]], w))

    def matrix(name):
        rows, cols = shapes[name]
        raw, values = tiny_matrix(rng, name, rows, cols, TINY_TYPES[name])
        add_raw_tensor(writer, name, raw, TINY_TYPES[name])
        tensors.append((name, TINY_TYPES[name], [cols, rows], values))

    # SmolLM2's tensor order: embedding, then per block, then the final norm.
    matrix("token_embd.weight")
    for i in range(c["n_layers"]):
        norm(f"blk.{i}.attn_norm.weight")
        for part in ("ffn_down", "ffn_gate", "ffn_up"):
            matrix(f"blk.{i}.{part}.weight")
        norm(f"blk.{i}.ffn_norm.weight")
        for part in ("attn_k", "attn_output", "attn_q", "attn_v"):
            matrix(f"blk.{i}.{part}.weight")
    norm("output_norm.weight")
    write(writer)

    return {
        "file": relpath(path),
        "config": dict(c, vocab_size=vocab, head_dim=head_dim),
        "tokenizer": {"model": "gpt2", "pre": "smollm", "n_tokens": vocab, "n_merges": len(merges),
                      "bos": 1, "eos": 2, "unk": 0, "pad": 2, "control": tokens[:3],
                      "first_merges": merges[:3], "chat_template_length": len(CHAT_TEMPLATE)},
        "tensors": [{"name": n, "type": t.name, "type_id": int(t), "ne": ne, "checksum": values_checksum(v),
                     "samples": sample_values(v)} for n, t, ne, v in tensors],
    }


# ---- (4) values of the real SmolLM2 file ------------------------------------------------


def make_smollm2_expected(model_path):
    reader = gguf.GGUFReader(model_path)
    wanted = ["token_embd.weight", "blk.0.attn_q.weight", "blk.29.ffn_down.weight", "output_norm.weight"]
    out = {"file": os.path.basename(model_path), "size": os.path.getsize(model_path),
           "data_offset": int(reader.data_offset), "tensors": []}
    for t in reader.tensors:
        if t.name not in wanted:
            continue
        values = dequantize(np.asarray(t.data).view(np.uint8), t.tensor_type)
        out["tensors"].append({"name": t.name, "type": t.tensor_type.name, "ne": [int(x) for x in t.shape],
                               "checksum": values_checksum(values), "samples": sample_values(values)})
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smollm2", help="path to SmolLM2-135M-Instruct.Q4_1.gguf (writes smollm2-expected.json)")
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(20)
    versions = {"gguf": getattr(gguf, "__version__", None) or _dist_version("gguf"), "numpy": np.__version__,
                "python": sys.version.split()[0]}
    manifest = {"versions": versions, "types": {}}
    make_quant_files(rng, manifest["types"])
    manifest["kv_types"] = make_kv_types(rng)
    with open(os.path.join(OUT, "quants.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    tiny = make_tiny_llama(rng)
    tiny["versions"] = versions
    with open(os.path.join(OUT, "tiny-llama.json"), "w") as f:
        json.dump(tiny, f, indent=1)
        f.write("\n")
    if args.smollm2:
        expected = make_smollm2_expected(args.smollm2)
        expected["versions"] = versions
        with open(os.path.join(OUT, "smollm2-expected.json"), "w") as f:
            json.dump(expected, f, indent=1)
            f.write("\n")
    total = sum(os.path.getsize(os.path.join(OUT, n)) for n in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files into {OUT} ({total} bytes)")


def _dist_version(name):
    from importlib.metadata import version
    return version(name)


if __name__ == "__main__":
    main()
