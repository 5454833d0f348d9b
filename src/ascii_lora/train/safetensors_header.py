"""Read a .safetensors header (tensor names, dtypes, shapes, metadata) without torch or the data.

A 24 GB base model is checked in milliseconds: only the first 8 bytes plus the JSON header are
read. Scalars (a LoRA's alphas) are decoded from their few bytes, bf16 included.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..fsutil import not_regular

MAX_HEADER = 100 * 1024 * 1024
SCALAR_DTYPES = {"BF16": "<u2", "F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4"}
# bytes per element of every dtype the safetensors format names: a tensor's data_offsets span exactly
# numel x this, as the safetensors library itself checks when it loads a file
DTYPE_BYTES = {
    "BOOL": 1,
    "U8": 1,
    "I8": 1,
    "F8_E5M2": 1,
    "F8_E4M3": 1,
    "I16": 2,
    "U16": 2,
    "F16": 2,
    "BF16": 2,
    "I32": 4,
    "U32": 4,
    "F32": 4,
    "I64": 8,
    "U64": 8,
    "F64": 8,
}


def _short(value: object) -> str:
    """A header value for a one-line message: a number of thousands of digits is not echoed whole."""
    huge = isinstance(value, int) and value.bit_length() >= 200
    text = f"<a {len(str(value))}-digit number>" if huge else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class NotSafetensors(Exception):
    pass


@dataclass(frozen=True)
class TensorInfo:
    dtype: str
    shape: tuple[int, ...]
    offsets: tuple[int, int]

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


@dataclass(frozen=True)
class Header:
    path: Path
    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    data_start: int

    def scalar(self, name: str) -> float:
        """Value of a 1-element tensor (e.g. ``<module>.alpha``)."""
        t = self.tensors[name]
        start, end = t.offsets
        if t.dtype not in SCALAR_DTYPES:
            raise NotSafetensors(f"cannot decode dtype {t.dtype} of {name}")
        want = np.dtype(SCALAR_DTYPES[t.dtype]).itemsize
        if end - start < want or t.numel < 1:
            raise NotSafetensors(f"tensor {name} holds {end - start} byte(s), a {t.dtype} value needs {want}")
        with open(self.path, "rb") as f:
            f.seek(self.data_start + start)
            raw = f.read(want)
        if len(raw) < want:
            raise NotSafetensors(f"tensor {name} lies past the end of the file (truncated?)")
        if t.dtype == "BF16":
            return float(
                (np.frombuffer(raw, dtype="<u2").astype("<u4") << 16).view("<f4")[0]
            )  # bf16 = top half of f32
        return float(np.frombuffer(raw, dtype=SCALAR_DTYPES[t.dtype])[0])


def _tensor(name: str, info: object) -> TensorInfo:
    """One header entry, every field checked: a malformed file is one line, never a traceback."""
    if not isinstance(info, dict):
        raise NotSafetensors(f"malformed entry for tensor {name!r}: not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if not isinstance(dtype, str):
        raise NotSafetensors(f"malformed entry for tensor {name!r}: dtype {dtype!r} is not a name")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise NotSafetensors(
            f"malformed entry for tensor {name!r}: shape {_short(shape)} is not a list of sizes >= 0"
        )
    if not (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(type(o) is int for o in offsets)
        and 0 <= offsets[0] <= offsets[1]
    ):
        raise NotSafetensors(
            f"malformed entry for tensor {name!r}: data_offsets {_short(offsets)} is not "
            "[begin, end] with 0 <= begin <= end"
        )
    info = TensorInfo(dtype, tuple(shape), (offsets[0], offsets[1]))
    if dtype in DTYPE_BYTES and info.numel * DTYPE_BYTES[dtype] != offsets[1] - offsets[0]:
        raise NotSafetensors(
            f"malformed entry for tensor {name!r}: shape {_short(shape)} of {dtype} needs "
            f"{_short(info.numel * DTYPE_BYTES[dtype])} bytes, data_offsets span "
            f"{_short(offsets[1] - offsets[0])}"
        )
    return info


def read_header(path: Path) -> Header:
    path = Path(path)
    why = not_regular(path)
    if why == "not found":
        raise FileNotFoundError(path)
    if why:
        raise NotSafetensors(why)
    try:
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise NotSafetensors("file is shorter than a safetensors header")
            (n,) = struct.unpack("<Q", head)
            if n == 0 or n > MAX_HEADER:
                raise NotSafetensors("no safetensors header (wrong file type?)")
            raw = f.read(n)
    except IsADirectoryError:
        raise NotSafetensors("is a directory") from None
    except PermissionError:
        raise NotSafetensors("permission denied") from None
    if len(raw) < n:
        raise NotSafetensors("header is truncated (incomplete download?)")
    try:
        data = json.loads(raw)
    except RecursionError:
        raise NotSafetensors("header is JSON nested too deeply to read (not a safetensors file)") from None
    except ValueError:
        raise NotSafetensors("header is not JSON (wrong file type?)") from None
    if not isinstance(data, dict):
        raise NotSafetensors("header is not a JSON object")
    metadata = data.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise NotSafetensors(
            f"__metadata__ is a JSON {type(metadata).__name__}, the format wants an object of strings"
        )
    tensors = {name: _tensor(name, info) for name, info in data.items()}
    size = path.stat().st_size
    end = max((t.offsets[1] for t in tensors.values()), default=0)
    if 8 + n + end > size:
        raise NotSafetensors(
            f"file is truncated: {size} bytes, header promises {_short(8 + n + end)} (incomplete download?)"
        )
    return Header(path, tensors, {str(k): str(v) for k, v in metadata.items()}, 8 + n)


def model_kind(header: Header) -> str:
    """What a checkpoint is, from its key names: which flag it belongs to."""
    keys = header.tensors.keys()

    def has(*fragments: str) -> bool:
        return any(any(fr in k for fr in fragments) for k in keys)

    if has("lora_unet_", "lora_te", ".lora_down."):
        return "lora"
    if has("double_blocks.0.img_attn.qkv", "transformer_blocks.0.attn.to_q"):
        return "flux-dev" if has("guidance_in.", "guidance_embedder") else "flux-schnell"
    if has("decoder.conv_in") and has("encoder.conv_in"):
        return "ae"
    if has("encoder.block.0.layer.0.SelfAttention") or (
        has("shared.weight") and has("encoder.final_layer_norm")
    ):
        return "t5xxl"
    if has("text_model.encoder.layers.0", "text_model.embeddings"):
        return "clip_l"
    return "unknown"


def rewrite_metadata(path: Path, updates: dict[str, str]) -> None:
    """Replace ``__metadata__`` entries of a safetensors file, tensors byte for byte unchanged.

    The header is re-serialised and padded to 8 bytes (as the format asks), the tensor bytes are
    copied after it into a temp file that is renamed over the original: never half a file.
    """
    import os
    import shutil
    import tempfile

    h = read_header(path)
    with open(path, "rb") as f:
        f.seek(8)
        data = json.loads(f.read(h.data_start - 8))
        data["__metadata__"] = {
            **(data.get("__metadata__") or {}),
            **{str(k): str(v) for k, v in updates.items()},
        }
        raw = json.dumps(data, separators=(",", ":")).encode()
        raw += b" " * (-len(raw) % 8)
        fd, tmp = tempfile.mkstemp(prefix=".ascii-lora-tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(struct.pack("<Q", len(raw)) + raw)
                f.seek(h.data_start)
                shutil.copyfileobj(f, out, 16 * 1024 * 1024)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
