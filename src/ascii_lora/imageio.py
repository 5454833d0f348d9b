"""Reading images the user hands us: every failure becomes one line, never a traceback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .fsutil import not_regular

# Samples are 1024x1024; anything past ~64 MP is a mistake or a decompression bomb.
MAX_PIXELS = 64 * 1024 * 1024


class ImageReadError(Exception):
    pass


def load_gray(path: Path) -> np.ndarray:
    """Any PIL-readable image -> float32 luminance in [0, 255] (16-bit scaled, alpha composited on black)."""
    path = Path(path)
    why = not_regular(path)  # a FIFO would block Image.open forever
    if why:
        raise ImageReadError("file not found" if why == "not found" else why)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                if w * h > MAX_PIXELS:
                    raise ImageReadError(f"{w}x{h} is larger than the {MAX_PIXELS // 2**20} MP limit")
                im.load()
                return to_gray(im)
    except ImageReadError:
        raise
    except FileNotFoundError:
        raise ImageReadError("file not found") from None
    except IsADirectoryError:
        raise ImageReadError("is a directory") from None
    except PermissionError:
        raise ImageReadError("permission denied") from None
    except UnidentifiedImageError:
        raise ImageReadError("not an image PIL can read") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageReadError(f"refused as a decompression bomb ({e})") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"truncated or corrupt image ({e})") from None


def to_gray(im: Image.Image) -> np.ndarray:
    """PIL image -> float32 luminance in [0, 255]; 16-bit is scaled exactly (65535 -> 255)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im).astype(np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return (arr * (255.0 / top)).astype(np.float32)
    if im.mode == "F":
        return np.asarray(im, dtype=np.float32)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        black = Image.new("RGBA", im.size, (0, 0, 0, 255))  # transparent reads as the black background
        im = Image.alpha_composite(black, im.convert("RGBA"))
    if im.mode == "1":
        return np.asarray(im, dtype=np.float32) * 255.0
    # PIL's Rec. 601 luma in 16-bit fixed point: fast, and exact for grey pixels (R = G = B)
    return np.asarray(im if im.mode == "L" else im.convert("L"), dtype=np.float32)


def save_png(path: Path, array: np.ndarray) -> None:
    """uint8 array -> PNG file, atomically (a reader never sees half a picture)."""
    import io

    from .fsutil import atomic_write

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    atomic_write(Path(path), buf.getvalue())
