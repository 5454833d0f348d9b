"""Which precision the CPU rehearsal trains in: the plan's bf16, or float32 where this CPU makes bf16 crawl.

Why: torch on a CPU without AVX-512 BF16 (or AMX) emulates bf16 matmuls and convolutions; on the 2-core
AMD EPYC this kit is developed on they ran 65-200x slower than float32, so a bf16 rehearsal stalls for
hours in latent caching and `make rehearse` never ends. A user should not have to know the flag: the
rehearsal times one 1024x1024 matmul in each precision at start and says what it chose. `--fp32` and
`--bf16` decide without measuring. The recipe's bf16 itself is proven on GPUs (the VRAM table).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

FP32 = "ASCII_LORA_REHEARSAL_FP32"  # set by `rehearse` when it chose float32; every process it starts inherits it
SLOW_BF16 = 8.0  # bf16 slower than float32 by more than this: train in float32
# 1024x1024: FLUX's layers are 3072 wide. Smaller products mislead: on the development box a 256x256
# bf16 matmul took a fast path (1.5x float32) while 512 was 14-109x and 1024 56x slower. ~3 s there.
SIZE = 1024


def bf16_slowdown(size: int = SIZE, repeats: int = 1) -> float:
    """Seconds of a bf16 matmul over those of the same float32 matmul on this CPU (best of ``repeats``)."""
    import torch

    def best(dtype: torch.dtype) -> float:
        a = torch.ones(size, size, dtype=dtype)
        small = torch.ones(8, 8, dtype=dtype)
        torch.mm(small, small)  # warm-up: the first call initialises the backend
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            torch.mm(a, a)
            times.append(time.perf_counter() - start)
        return min(times)

    return best(torch.bfloat16) / max(best(torch.float32), 1e-9)


def choose(fp32: bool, bf16: bool, slowdown: Callable[[], float] = bf16_slowdown) -> tuple[bool, str]:
    """(train in float32?, the line that says why). Flags win; otherwise ``slowdown()`` decides."""
    if fp32:
        return True, "float32 (--fp32): --mixed_precision no, without --fp8_base"
    if bf16:
        return False, "the plan's precision (--bf16), however slow this CPU is at bf16"
    ratio = slowdown()
    if ratio > SLOW_BF16:
        return True, (
            f"float32: this CPU runs a bf16 matmul {ratio:.0f}x slower than float32 (over {SLOW_BF16:.0f}x "
            "stalls the rehearsal for hours); --mixed_precision no, without --fp8_base. --bf16 keeps bf16"
        )
    return False, f"the plan's precision: bf16 is {ratio:.1f}x float32 on this CPU"


def chosen_fp32() -> bool:
    """Whether this rehearsal (this process or the one that started it) chose float32."""
    return bool(os.environ.get(FP32))
