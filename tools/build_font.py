"""Regenerate src/ascii_lora/grid/data/vga8x8_ascii.txt from the PSF1 console font in tests/fixtures/fonts.

Run by a developer, never at run time: the package ships the text file so that it never
needs the font file. The file is plain hex so a review can see exactly which bits changed.
"""

from __future__ import annotations

import gzip
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PSF = ROOT / "tests" / "fixtures" / "fonts" / "Uni2-VGA8.psf.gz"
OUT = ROOT / "src" / "ascii_lora" / "grid" / "data" / "vga8x8_ascii.txt"

HEADER = """\
# 8x8 VGA console font, printable ASCII (0x20-0x7E), one glyph per line:
#   <hex code point> <8 bytes, top row first, most significant bit = leftmost pixel>
# Source: Uni2-VGA8.psf.gz from Debian 12 package console-setup-linux 1.221.
# Debian's copyright file for console-setup: "All console fonts are public domain by nature."
# Regenerate with: python tools/build_font.py [PATH/TO/Uni2-VGA8.psf.gz]
"""


def read_psf1(data: bytes) -> dict[int, bytes]:
    """Map each Unicode code point of the font's table to the bitmap of its glyph."""
    if data[:2] != b"\x36\x04":
        raise ValueError("not a PSF1 font (bad magic)")
    mode, charsize = data[2], data[3]
    count = 512 if mode & 0x01 else 256
    glyphs = data[4 : 4 + count * charsize]
    if not mode & 0x02:
        return {i: glyphs[i * charsize : (i + 1) * charsize] for i in range(count)}
    table = data[4 + count * charsize :]
    values = struct.unpack(f"<{len(table) // 2}H", table[: len(table) // 2 * 2])
    mapping: dict[int, bytes] = {}
    glyph, in_sequence = 0, False
    for value in values:
        if value == 0xFFFF:
            glyph, in_sequence = glyph + 1, False
        elif value == 0xFFFE:
            in_sequence = True
        elif not in_sequence:
            mapping.setdefault(value, glyphs[glyph * charsize : (glyph + 1) * charsize])
    return mapping


def render_table(mapping: dict[int, bytes]) -> str:
    lines = [HEADER]
    for code in range(0x20, 0x7F):
        lines.append(f"{code:02x} {mapping[code].hex(' ')}\n")
    return "".join(lines)


def main() -> None:
    psf = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_PSF
    OUT.write_text(render_table(read_psf1(gzip.decompress(psf.read_bytes()))))
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
