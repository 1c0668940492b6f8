#!/usr/bin/env python3
"""Writes the seed corpora of Fuzz/corpus/<target>/: small valid files and near-valid
variants (truncated, wrong sizes, huge headers). Checkpoint and latents seeds come from a
real run: pass a checkpoint and a latent file written by glow-gpu (see docs/reliability.md).
    python3 Fuzz/make_corpus.py CHECKPOINT LATENTS"""
import gzip, json, os, struct, sys, zlib

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

def put(target, name, data):
    d = os.path.join(root, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def gz(data):
    return gzip.compress(data, mtime=0)

def safetensors(tensors, metadata=None):
    header, blob = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(raw)]}
        blob += raw
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob

def png(width, height, color_type, bit_depth, rows, palette=None):
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0))
    if palette:
        out += chunk(b"PLTE", palette)
    out += chunk(b"IDAT", zlib.compress(b"".join(b"\x00" + r for r in rows)))
    return out + chunk(b"IEND", b"")

# safetensors
f32 = struct.pack("<4f", 1, -2, 0.5, 3)
i64 = struct.pack("<2q", 7, -1)
put("safetensors", "valid", safetensors([("w", "F32", [2, 2], f32), ("n", "I64", [2], i64)], {"format": "x"}))
put("safetensors", "empty-header", safetensors([]))
put("safetensors", "scalar", safetensors([("s", "F32", [], struct.pack("<f", 1))]))
put("safetensors", "gap", struct.pack("<Q", 64) + b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}'.ljust(64) + b"\0" * 8)
put("safetensors", "huge-shape", safetensors([("w", "F32", [2**31, 2**31, 4], b"")]))
put("safetensors", "huge-length", struct.pack("<Q", 2**63) + b"{}")

# IDX
images = struct.pack(">IIII", 0x803, 2, 4, 4) + bytes(range(32))
labels = struct.pack(">II", 0x801, 3) + bytes([1, 9, 0])
put("idx", "images", images)
put("idx", "images.gz", gz(images))
put("idx", "labels", labels)
put("idx", "labels.gz", gz(labels))
put("idx", "huge-dims", struct.pack(">IIII", 0x803, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF) + b"\0" * 8)
put("idx", "short", images[:-5])

# CIFAR-10
record = bytes([3]) + bytes(i % 251 for i in range(3072))
put("cifar10", "one-record", record)
put("cifar10", "two-records.gz", gz(record + bytes([9]) + record[1:]))
put("cifar10", "bad-label", bytes([10]) + record[1:])
put("cifar10", "short", record[:-1])

# PNG
put("png", "gray-4x3", png(4, 3, 0, 8, [bytes([i * 10 + j for j in range(4)]) for i in range(3)]))
put("png", "rgb-2x2", png(2, 2, 2, 8, [bytes(range(6)), bytes(range(6, 12))]))
put("png", "rgba-2x1", png(2, 1, 6, 8, [bytes(range(8))]))
put("png", "palette-3x1", png(3, 1, 3, 8, [bytes([0, 1, 2])], palette=bytes(range(9))))
put("png", "gray16-1x2", png(1, 2, 0, 16, [b"\x12\x34", b"\xff\x00"]))
put("png", "gray1-9x1", png(9, 1, 0, 1, [b"\xa5\x80"]))
put("png", "huge-header", png(100000, 100000, 0, 8, [b"\0"]))

# gzip
text = b"glow-gpu fuzz seed " * 20
put("gzip", "text.gz", gz(text))
put("gzip", "two-members.gz", gz(b"first ") + gz(b"second"))
put("gzip", "empty.gz", gz(b""))
put("gzip", "plain", b"not compressed at all")
put("gzip", "truncated.gz", gz(text)[:-6])
put("gzip", "zeros-bomb.gz", gz(b"\0" * 2_000_000))

# checkpoint and latents: real files from a tiny run, plus broken variants
if len(sys.argv) == 3:
    ckpt = open(sys.argv[1], "rb").read()
    put("checkpoint", "tiny-model", ckpt)
    n = struct.unpack("<Q", ckpt[:8])[0]
    header = json.loads(ckpt[8:8 + n])
    cfg = json.loads(header["__metadata__"]["config"])
    for key, value in [("K", 10**9), ("hidden", 10**7), ("image_shape", [1, 2**20, 2**20])]:
        bad = dict(cfg); bad[key] = value
        h = dict(header); h["__metadata__"] = dict(header["__metadata__"], config=json.dumps(bad))
        raw = json.dumps(h, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        put("checkpoint", "config-" + key.lower().replace("_", "-"), struct.pack("<Q", len(raw)) + raw + ckpt[8 + n:])
    put("checkpoint", "truncated", ckpt[: len(ckpt) // 2])
    put("latents", "two-images", open(sys.argv[2], "rb").read())
    z = safetensors([("z.0", "F32", [1, 2, 4, 4], b"\0" * 128), ("z.1", "F32", [1, 8, 2, 2], b"\0" * 128)],
                    {"format": "glow-gpu-latents/1"})
    put("latents", "one-image-no-x", z)
    put("latents", "wrong-shape", safetensors([("z.0", "F32", [1, 2, 2, 8], b"\0" * 128)]))
