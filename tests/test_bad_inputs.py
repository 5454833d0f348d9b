"""Hostile inputs against the real CLI: one clear line, the documented exit code, never a traceback,
never a lost user file, never a hang.

Every case is a subprocess of ``python -m ascii_lora`` in a folder of its own (also its $HOME), so
what is asserted is what a user sees. The cases run two at a time in a session fixture (each is
mostly interpreter start-up), then each case is its own test.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CASE_TIMEOUT = 60  # a hang is a failure, not a stuck suite

# A dataset small enough to draw in a blink: 384 px = 24 cells of 16 px, the smallest legal grid.
SMALL = "[dataset]\nresolution = 384\n[training]\nresolution = 384\n[sample]\nwidth = 384\nheight = 384\n"


def cli(
    *argv: str,
    cwd: Path,
    env: dict | None = None,
    timeout: float = CASE_TIMEOUT,
    prefix: list[str] | None = None,
    **popen,
) -> subprocess.CompletedProcess:
    base = {
        **os.environ,
        "HOME": str(cwd),
        "COLUMNS": "250",
        "NO_COLOR": "1",
        "PYTHONPATH": str(ROOT / "src"),
    }
    base.pop("RESUME", None)
    return subprocess.run(
        [*(prefix or []), sys.executable, "-m", "ascii_lora", *argv],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        **popen,
    )


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder``: file bytes, or the kind of a non-file, by relative path."""
    out: dict[str, bytes | str] = {}
    for p in sorted(folder.rglob("*")):
        rel = str(p.relative_to(folder))
        try:
            if p.is_symlink():
                out[rel] = "symlink"
            elif p.is_fifo():
                out[rel] = "fifo"
            elif p.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = p.read_bytes()
        except FileNotFoundError:  # a temp file renamed away by a run still going
            continue
    return out


# -- builders of hostile inputs ----------------------------------------------------------------------


def config(text: str) -> Callable[[Path], None]:
    return lambda d: (d / "exp.toml").write_text(text)


def files(**named: bytes | str) -> Callable[[Path], None]:
    """Write files (``a/b.png`` spelled ``a__b_png``? no: pass a dict) relative to the case folder."""

    def make(d: Path) -> None:
        for name, data in named.items():
            p = d / name.replace("__", "/")
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(data if isinstance(data, bytes) else data.encode())

    return make


def chain(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        for s in steps:
            s(d)

    return make


def dataset_copy(name: str = "data") -> Callable[[Path], None]:
    """A copy of the small valid dataset drawn once per session."""
    return lambda d: shutil.copytree(DATASETS["small"], d / name)


def mkdirs(*names: str) -> Callable[[Path], None]:
    return lambda d: [(d / n).mkdir(parents=True, exist_ok=True) for n in names]


def fifo(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(d / name)

    return make


def edit_manifest(folder: str, change: Callable[[dict], object]) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        p = d / folder / "manifest.json"
        data = json.loads(p.read_text())
        change(data)
        p.write_text(json.dumps(data))

    return make


def remove(*names: str) -> Callable[[Path], None]:
    return lambda d: [(d / n).unlink() for n in names]


def replace_with_dir(name: str) -> Callable[[Path], None]:
    def make(d: Path) -> None:
        (d / name).unlink()
        (d / name).mkdir()

    return make


def safetensors(header: dict, data: bytes = b"", raw_header: bytes | None = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text)) + text + data


def lora(
    meta: object = None,
    down: list[int] | None = None,
    up: list[int] | None = None,
    alpha: bytes | None = b"\x00\x42",
    alpha_dtype: str = "BF16",
    offsets: object = None,
) -> bytes:
    """A one-module LoRA header with zero weights; every field can be made wrong."""
    name = "lora_unet_double_blocks_0_img_attn_qkv"
    down = [4, 8] if down is None else down
    up = [8, 4] if up is None else up
    n_down = int(np.prod(down)) * 2 if all(isinstance(v, int) and v >= 0 for v in down) else 0
    n_up = int(np.prod(up)) * 2 if all(isinstance(v, int) and v >= 0 for v in up) else 0
    h: dict = {
        f"{name}.lora_down.weight": {
            "dtype": "F16",
            "shape": down,
            "data_offsets": offsets if offsets is not None else [0, n_down],
        },
        f"{name}.lora_up.weight": {"dtype": "F16", "shape": up, "data_offsets": [n_down, n_down + n_up]},
    }
    data = bytes(n_down + n_up)
    if alpha is not None:
        h[f"{name}.alpha"] = {
            "dtype": alpha_dtype,
            "shape": [],
            "data_offsets": [len(data), len(data) + len(alpha)],
        }
        data += alpha
    if meta is not None:
        h["__metadata__"] = meta
    return safetensors(h, data)


def one_tensor(shape: list[int], offsets: list[int]) -> bytes:
    """A file of one F16 lora_down tensor whose shape or offsets may be absurd; 64 bytes of data."""
    return safetensors(
        {
            "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": {
                "dtype": "F16",
                "shape": shape,
                "data_offsets": offsets,
            }
        },
        bytes(64),
    )


def nan_bf16() -> bytes:
    return struct.pack("<H", 0x7FC0)


def png(side: int = 64, mode: str = "L") -> bytes:
    import io

    buf = io.BytesIO()
    Image.new(mode, (side, side)).save(buf, "PNG")
    return buf.getvalue()


def git_repo_with_plain_sd_scripts(d: Path) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    subprocess.run(["git", "init", "-q", str(d)], check=True, env=env)
    (d / "vendor" / "sd-scripts").mkdir(parents=True)
    (d / "vendor" / "sd-scripts" / "flux_train_network.py").write_text("# a plain copy, not the submodule\n")
    subprocess.run(["git", "-C", str(d), "add", "-A"], check=True, env=env)
    subprocess.run(["git", "-C", str(d), "commit", "-qm", "user work"], check=True, env=env)


# -- extra checks used by the table ------------------------------------------------------------------------------


def _not_blamed_on_a_file(r: subprocess.CompletedProcess) -> None:
    assert (
        "command line" in r.stderr
        or "--count" in r.stderr.split(":")[1 if r.stderr.startswith("error") else 0]
    )
    assert "flux_ascii.toml" not in r.stderr and "built-in defaults" not in r.stderr


def _tilde_expanded(d: Path) -> None:
    assert (d / "tilde" / "manifest.json").is_file(), "~ means $HOME"
    assert not (d / "~").exists(), "no literal ./~ folder"


def _plan_points_at(d: Path, want: Path) -> None:
    text = (d / "run" / "dataset_config.toml").read_text()
    assert f'image_dir = "{want}"' in text


def _drop_two_samples(d: Path) -> None:
    for stem in sorted({p.stem for p in (d / "data").glob("*.png")})[1:]:
        for ext in (".png", ".txt", ".ascii"):
            (d / "data" / f"{stem}{ext}").unlink()


def _drop_one_sample(d: Path) -> None:
    stem = sorted(p.stem for p in (d / "data").glob("*.png"))[-1]
    for ext in (".png", ".txt", ".ascii"):
        (d / "data" / f"{stem}{ext}").unlink()


def _same_stem_two_formats(d: Path) -> None:
    (d / "s").mkdir()
    src = d / "data" / "dungeon_00000.png"
    shutil.copy(src, d / "s" / "x.png")
    Image.open(src).save(d / "s" / "x.bmp")


def _near_miss(d: Path) -> None:
    """A sample 3 px off the grid: snapping changes it, so an overwrite would show."""
    (d / "near").mkdir()
    pixels = np.roll(np.asarray(Image.open(d / "data" / "dungeon_00000.png")), 3, axis=1)
    Image.fromarray(pixels).save(d / "near" / "dungeon_00000.png")
    shutil.copy(d / "data" / "dungeon_00000.ascii", d / "near" / "dungeon_00000.ascii")


def _swap_two_captions(d: Path) -> None:
    """Both still start with the trigger word and read fine: only the manifest's sha256 tells."""
    a, b = sorted((d / "data").glob("*.txt"))[:2]
    ta, tb = a.read_bytes(), b.read_bytes()
    a.write_bytes(tb)
    b.write_bytes(ta)


def _save_as(name: str, fmt: str) -> Callable[[Path], None]:
    """One of the dataset's own pictures saved again under a name the trainer's image list also takes."""
    return lambda d: Image.open(d / "data" / "dungeon_00000.png").save(d / "data" / name, fmt)


def deep(n: int = 100_000) -> str:
    """JSON/TOML arrays nested past the parser's recursion limit."""
    return "[" * n + "]" * n


def lora_with_block(number: str) -> bytes:
    name = f"lora_unet_double_blocks_{number}_img_attn_qkv"
    return safetensors(
        {
            f"{name}.lora_down.weight": {"dtype": "F16", "shape": [4, 8], "data_offsets": [0, 64]},
            f"{name}.lora_up.weight": {"dtype": "F16", "shape": [8, 4], "data_offsets": [64, 128]},
        },
        bytes(128),
    )


def _valid_json_without_infinity(r: subprocess.CompletedProcess) -> None:
    data = json.loads(r.stdout, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    assert data["alpha"] is None


def _report_rewritten(report: Path) -> None:
    assert "an earlier run" not in report.read_text(), "a report check wrote is check's to replace"


def _our_old_sheet(name: str) -> Callable[[Path], None]:
    """A sheet an earlier `preview` wrote (marked as the product marks them), 8 px wide."""
    from PIL.PngImagePlugin import PngInfo

    def make(d: Path) -> None:
        info = PngInfo()
        info.add_text("Software", "ascii-lora preview")
        Image.new("L", (8, 8)).save(d / name, "PNG", pnginfo=info)

    return make


def _is_png(path: Path) -> None:
    assert Image.open(path).size[0] > 100


def _replaced_in_place(d: Path, name: str) -> None:
    assert Image.open(d / name).size[0] > 100, "our earlier sheet is replaced"
    assert not list(d.glob("*_preview-*.png"))


STATE500 = "flux_ascii_structure_v1-step00000500-state"
IN_RUN = '[dataset]\nout = "run/dataset"\n[training]\noutput_dir = "run"\n'


def _nothing_at(path: Path) -> None:
    assert not path.exists(), f"{path} was created by a refused plan"


def _two_outputs(folder: Path) -> None:
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2, names


def _no_control_chars(r: subprocess.CompletedProcess) -> None:
    for stream in (r.stdout, r.stderr):
        assert not any(ord(c) < 32 and c not in "\n" or 0x7F <= ord(c) < 0xA0 for c in stream), repr(stream)


def _parent_repo_untouched(d: Path) -> None:
    status = subprocess.run(
        ["git", "-C", str(d), "status", "--porcelain"], capture_output=True, text=True
    ).stdout
    assert status == "", status


# -- the table ------------------------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    argv: list[str]
    code: int
    says: list[str]  # substrings the output must contain: the offending file/key/flag and the problem
    setup: Callable[[Path], None] | None = None
    keep: bool = False  # data-loss case: every pre-existing file byte-identical afterwards
    env: dict[str, str] = field(default_factory=dict)
    after: Callable[[Path, subprocess.CompletedProcess], None] | None = None  # extra check on the result


C = "exp.toml"
WITH = ["--config", C]
PLAN = ["plan", "--run-dir", "run"]
DRY = ["train", "--dry-run", "--run-dir", "run"]
DATASET = ["dataset", "--out", "out", "--workers", "1"]


def cfg_case(id: str, toml: str, says: list[str], command: list[str] | None = None, code: int = 2) -> Case:
    return Case(
        id,
        [*(command or PLAN), *WITH],
        code,
        [C, *says],
        config(toml),
        after=lambda d, r: _nothing_written(d),
    )


def _nothing_written(d: Path) -> None:
    assert not (d / "out").exists(), "a refused config must not write anything"
    assert not (d / "run").exists(), "a refused config must not write anything"


CASES: list[Case] = [
    # -- config values: types (pydantic strict), finite numbers, bounds against the grid ------------------
    cfg_case("count-string", '[dataset]\ncount = "12"\n', ["[dataset] count", "integer"]),
    cfg_case("count-bool", "[dataset]\ncount = true\n", ["[dataset] count", "integer"], DATASET),
    cfg_case("count-float", "[dataset]\ncount = 5.0\n", ["[dataset] count", "integer"]),
    cfg_case("seed-negative", "[dataset]\nseed = -1\n", ["[dataset] seed"]),
    cfg_case(
        "bool-as-no",
        '[training]\ngradient_checkpointing = "no"\n',
        ["[training] gradient_checkpointing", "boolean"],
        PLAN,
    ),
    cfg_case("bool-as-off", '[training]\nflip_aug = "off"\n', ["[training] flip_aug", "boolean"], PLAN),
    cfg_case(
        "bool-as-int", "[network]\ntrain_unet_only = 1\n", ["[network] train_unet_only", "boolean"], PLAN
    ),
    cfg_case("lr-inf", "[optimizer]\nlearning_rate = inf\n", ["[optimizer] learning_rate", "finite"], DRY),
    cfg_case("lr-nan", "[optimizer]\nlearning_rate = nan\n", ["[optimizer] learning_rate", "finite"], DRY),
    cfg_case("alpha-inf", "[network]\nalpha = inf\n", ["[network] alpha", "finite"], DRY),
    cfg_case(
        "guidance-scale-inf",
        "[training]\nguidance_scale = inf\n",
        ["[training] guidance_scale", "finite"],
        DRY,
    ),
    cfg_case(
        "flow-shift-inf",
        "[training]\ndiscrete_flow_shift = inf\n",
        ["[training] discrete_flow_shift", "finite"],
        DRY,
    ),
    cfg_case("sample-guidance-inf", "[sample]\nguidance = inf\n", ["[sample] guidance", "finite"], DRY),
    cfg_case(
        "max-grad-norm-nan",
        "[optimizer]\nmax_grad_norm = nan\n",
        ["[optimizer] max_grad_norm", "finite"],
        DRY,
    ),
    cfg_case(
        "mix-weight-inf", "[dataset.mix]\ndungeon = inf\n", ["[dataset.mix] dungeon", "finite"], DATASET
    ),
    cfg_case("mix-weight-huge", "[dataset.mix]\ndungeon = 1e308\ncave = 1e308\n", ["[dataset.mix] dungeon"]),
    cfg_case("cave-fill-nan", "[dataset.cave]\nfill = [nan, 0.5]\n", ["[dataset.cave] fill", "finite"]),
    cfg_case(
        "corridor-width-vs-grid",
        "[dataset.corridor]\nwidth = [30, 40]\n",
        ["[dataset.corridor] width", "cells"],
        DATASET,
    ),
    cfg_case(
        "corridor-count-huge", "[dataset.corridor]\ncount = [1, 1000000000]\n", ["[dataset.corridor] count"]
    ),
    cfg_case(
        "corridor-segment-huge",
        "[dataset.corridor]\nsegment = [6, 9223372036854775807]\n",
        ["[dataset.corridor] segment"],
    ),
    cfg_case(
        "maze-nodes-huge", "[dataset.maze]\nnodes = [2, 9223372036854775807]\n", ["[dataset.maze] nodes"]
    ),
    cfg_case(
        "dungeon-leaf-vs-grid",
        "[dataset.dungeon]\nmin_leaf = [6, 500]\n",
        ["[dataset.dungeon] min_leaf", "cells"],
    ),
    cfg_case(
        "room-size-vs-grid",
        "[dataset.rooms_and_mazes]\nroom_size = [3, 1001]\n",
        ["[dataset.rooms_and_mazes] room_size", "cells"],
    ),
    cfg_case(
        "min-chamber-vs-grid",
        "[dataset.cave]\nmin_chamber = 100000000\n",
        ["[dataset.cave] min_chamber", "cells"],
    ),
    cfg_case(
        "tuple-of-strings",
        '[dataset.corridor]\nwidth = ["1", "2"]\n',
        ["[dataset.corridor] width", "integer"],
    ),
    cfg_case("out-empty", '[dataset]\nout = ""\n', ["[dataset] out"], ["dataset", "--count", "2"]),
    cfg_case("out-nul", '[dataset]\nout = "a\\u0000b"\n', ["[dataset] out"], ["dataset", "--count", "2"]),
    cfg_case(
        "output-name-too-long",
        f'[training]\noutput_name = "{"x" * 300}"\n',
        ["[training] output_name", "long"],
        PLAN,
    ),
    cfg_case("output-name-newline", '[training]\noutput_name = "a\\nb"\n', ["[training] output_name"], PLAN),
    cfg_case("output-name-dash", '[training]\noutput_name = "-x"\n', ["[training] output_name", "-"], PLAN),
    cfg_case("output-name-dotdot", '[training]\noutput_name = ".."\n', ["[training] output_name"], PLAN),
    cfg_case(
        "network-args-smuggle", '[network]\nargs = ["--learning_rate=1"]\n', ["[network] args", "--"], PLAN
    ),
    cfg_case(
        "optimizer-args-smuggle",
        '[optimizer]\nargs = ["--max_train_steps", "1"]\n',
        ["[optimizer] args", "--"],
        PLAN,
    ),
    cfg_case("network-args-no-equals", '[network]\nargs = ["train_blocks"]\n', ["[network] args", "="], PLAN),
    cfg_case(
        "prompt-carriage-return",
        '[sample]\nprompts = ["ascii_structure_style, a\\rb"]\n',
        ["[sample] prompts"],
        PLAN,
    ),
    cfg_case(
        "training-seed-2**32", "[training]\nseed = 4294967296\n", ["[training] seed", "4294967295"], DRY
    ),
    cfg_case(
        "sample-seed-2**64",
        "[sample]\nseed = 18446744073709551616\n",
        ["[sample] seed", "18446744073709551615"],
        DRY,
    ),
    cfg_case(
        "max-train-steps-9-digits",
        "[training]\nmax_train_steps = 100000000\n",
        ["[training] max_train_steps"],
        DRY,
    ),
    cfg_case("num-repeats-huge", "[training]\nnum_repeats = 1000000000\n", ["[training] num_repeats"], DRY),
    cfg_case(
        "resolution-list-of-bool", "[training]\nresolution = [1024, true]\n", ["[training] resolution"], PLAN
    ),
    Case(
        "config-dev-zero",
        ["dataset", "--config", "/dev/zero", "--out", "out"],
        2,
        ["/dev/zero", "regular file"],
    ),
    Case(
        "config-fifo",
        ["dataset", "--config", "pipe.toml", "--out", "out"],
        2,
        ["pipe.toml", "regular file"],
        fifo("pipe.toml"),
    ),
    Case(
        "config-folder",
        ["dataset", "--config", "conf", "--out", "out"],
        2,
        ["conf", "directory"],
        mkdirs("conf"),
    ),
    Case(
        "config-huge",
        ["dataset", "--config", "big.toml", "--out", "out"],
        2,
        ["big.toml", "MiB"],
        files(**{"big.toml": "# " + "x" * (3 << 20) + "\n"}),
    ),
    Case(
        "config-bom",
        ["plan", "--run-dir", "run", "--config", "bom.toml"],
        2,
        ["bom.toml", "byte-order mark"],
        files(**{"bom.toml": b"\xef\xbb\xbf[dataset]\ncount = 3\n"}),
    ),
    Case(
        "config-deeply-nested",
        ["plan", "--run-dir", "run", "--config", "deep.toml"],
        2,
        ["deep.toml", "nesting too deep"],
        files(**{"deep.toml": f"a = {deep(3000)}\n"}),
    ),
    Case(
        "config-5000-digit-int",
        ["plan", "--run-dir", "run", "--config", "big.toml"],
        2,
        ["big.toml", "thousands of digits"],
        files(**{"big.toml": "[dataset]\nseed = " + "9" * 5000 + "\n"}),
    ),
    Case(
        "config-not-utf8",
        ["dataset", "--config", "bad.toml", "--out", "out"],
        2,
        ["bad.toml", "UTF-8"],
        files(**{"bad.toml": b"[dataset]\ncount = 3 # \xff\xfe\n"}),
    ),
    Case(
        "count-flag-too-big",
        ["dataset", "--count", "99999999999", "--out", "out"],
        2,
        ["--count", "99999999999"],
        after=lambda d, r: _not_blamed_on_a_file(r),
    ),
    Case("out-flag-nul", ["dataset", "--count", "1", "--out", "a\x01b\n"], 2, ["--out"]),
    Case(
        "verify-checkpoints-commas",
        ["verify", "--checkpoints", ",,,"],
        2,
        ["--checkpoints", "names no checkpoint"],
    ),
    Case(
        "verify-checkpoints-5000-digits",
        ["verify", "--checkpoints", "7" * 5000],
        2,
        ["--checkpoints", "5000 digits"],
    ),
    Case(
        "verify-checkpoints-superscript",
        ["verify", "--checkpoints", "\u00b2"],
        2,
        ["--checkpoints", "not a step number"],
    ),
    Case(
        "generate-count-huge",
        ["generate", "x", "--count", "30000000", "--lora", "none"],
        2,
        ["--count", "at most 1000"],
    ),
    Case("verify-seeds-huge", ["verify", "--seeds", "50000000"], 2, ["--seeds", "at most 1000"]),
    Case(
        "generate-seed-past-first-seed-cap",
        ["generate", "x", "--seed", "4294967295", "--lora", "none"],
        2,
        ["--seed", "at most"],
    ),
    Case(
        "generate-seed-5000-digits",
        ["generate", "x", "--seed", "7" * 5000, "--lora", "none"],
        2,
        ["--seed", "5000 characters"],
    ),
    Case(
        "generate-prompt-escape",
        ["generate", "map \x1b[2J\x1b]0;pwned\x07 here", "--lora", "none"],
        2,
        ["prompt", "control character"],
        after=lambda d, r: _no_control_chars(r),
    ),
    Case("workers-zero", ["dataset", "--workers", "0", "--out", "out"], 2, ["--workers"]),
    Case(
        "workers-capped",
        ["dataset", "--workers", "1000", "--count", "2", "--out", "out", *WITH],
        0,
        ["--workers 1000", "core"],
        config(SMALL),
    ),
    # -- dataset: foreign files are never removed or replaced ---------------------------------------------
    Case(
        "foreign-lookalike-no-manifest",
        ["dataset", "--out", "out", "--count", "3", *WITH],
        2,
        ["out", "holiday_00001.png"],
        chain(config(SMALL), files(**{"out__holiday_00001.png": png(), "out__holiday_00001.txt": "my trip"})),
        keep=True,
    ),
    Case(
        "foreign-our-name-no-manifest",
        ["dataset", "--out", "out", "--count", "3", *WITH],
        2,
        ["out", "dungeon_00000.png"],
        chain(config(SMALL), files(**{"out__dungeon_00000.png": png()})),
        keep=True,
    ),
    Case(
        "foreign-beside-our-dataset",
        ["dataset", "--out", "data", "--count", "2", *WITH],
        2,
        ["data", "holiday_00001.png"],
        chain(config(SMALL), dataset_copy(), files(**{"data__holiday_00001.png": png()})),
        keep=True,
    ),
    Case(
        "foreign-our-pattern-past-schedule",
        ["dataset", "--out", "data", "--count", "2", *WITH],
        2,
        ["data", "maze_09999.png"],
        chain(config(SMALL), dataset_copy(), files(**{"data__maze_09999.png": png()})),
        keep=True,
    ),
    Case(
        "lock-is-a-symlink",
        ["dataset", "--out", "out", "--count", "2", *WITH],
        2,
        ["out/.ascii-lora.lock", "symbolic link"],
        chain(
            config(SMALL),
            files(**{"precious.txt": "my thesis"}),
            mkdirs("out"),
            lambda d: (d / "out/.ascii-lora.lock").symlink_to(d / "precious.txt"),
        ),
        keep=True,
    ),
    Case(
        "lock-name-users-file",
        ["dataset", "--out", "data", "--count", "3", *WITH],
        2,
        ["data/.ascii-lora.lock", "not an ascii-lora lock"],
        chain(config(SMALL), dataset_copy(), files(**{"data__.ascii-lora.lock": "my notes"})),
        keep=True,
    ),
    Case(
        "temp-prefix-users-file",
        ["dataset", "--out", "data", "--count", "3", *WITH],
        2,
        ["data", ".ascii-lora-tmp-notes.txt"],
        chain(config(SMALL), dataset_copy(), files(**{"data__.ascii-lora-tmp-notes.txt": "my notes"})),
        keep=True,
    ),
    Case(
        "foreign-with-force",
        ["dataset", "--out", "out", "--count", "2", "--force", *WITH],
        2,
        ["out", "cave_00001.png"],
        chain(config(SMALL), files(**{"out__cave_00001.png": png()})),
        keep=True,
    ),
    Case(
        "folder-named-like-a-png",
        ["dataset", "--out", "data", "--count", "3", *WITH],
        2,
        ["data", "dungeon_00000.png"],
        chain(config(SMALL), dataset_copy(), replace_with_dir("data/dungeon_00000.png")),
        keep=True,
    ),
    Case(
        "out-is-a-file",
        ["dataset", "--out", "f.png", "--count", "2", *WITH],
        2,
        ["f.png", "not a directory"],
        chain(config(SMALL), files(**{"f.png": png()})),
        keep=True,
    ),
    Case(
        "corrupt-manifest",
        ["dataset", "--out", "data", "--count", "2", *WITH],
        2,
        ["data/manifest.json"],
        chain(config(SMALL), dataset_copy(), files(**{"data__manifest.json": "{not json"})),
        keep=True,
    ),
    Case(
        "manifest-of-another-tool",
        ["dataset", "--out", "data", "--count", "2", *WITH],
        2,
        ["data/manifest.json"],
        chain(
            config(SMALL),
            dataset_copy(),
            files(**{"data__manifest.json": '{"tool": "other", "fingerprint": "x"}'}),
        ),
        keep=True,
    ),
    Case(
        "manifest-is-a-folder",
        ["dataset", "--out", "data", "--count", "2", *WITH],
        2,
        ["manifest.json", "directory"],
        chain(config(SMALL), dataset_copy(), replace_with_dir("data/manifest.json")),
        keep=True,
    ),
    Case(
        "another-config-no-force",
        ["dataset", "--out", "data", "--count", "2", "--seed", "5", *WITH],
        2,
        ["data", "--force"],
        chain(config(SMALL), dataset_copy()),
        keep=True,
    ),
    Case(
        "out-under-proc",
        ["dataset", "--out", "/proc/ascii-lora-out", "--count", "1", *WITH],
        2,
        ["/proc/ascii-lora-out"],
        config(SMALL),
    ),
    Case(
        "out-under-sys",
        ["dataset", "--out", "/sys/ascii-lora-out", "--count", "1", *WITH],
        2,
        ["/sys/ascii-lora-out"],
        config(SMALL),
    ),
    Case(
        "out-name-too-long",
        ["dataset", "--out", "d" * 300, "--count", "1", *WITH],
        2,
        ["d" * 300, "too long"],
        config(SMALL),
    ),
    Case(
        "out-tilde",
        ["dataset", "--out", "~/tilde", "--count", "1", "--workers", "1", *WITH],
        0,
        ["tilde"],
        config(SMALL),
        after=lambda d, r: _tilde_expanded(d),
    ),
    # -- validate: incomplete or corrupt datasets are failures, never a pass or a traceback -------------
    Case(
        "validate-incomplete",
        ["validate", "data"],
        1,
        ["data", "incomplete", "1 of 3", "ascii-lora dataset"],
        chain(
            dataset_copy(), edit_manifest("data", lambda m: m.update(status="incomplete")), _drop_two_samples
        ),
    ),
    Case(
        "validate-missing-image",
        ["validate", "data"],
        1,
        ["data", "2 of the 3"],
        chain(dataset_copy(), _drop_one_sample),
    ),
    Case(
        "validate-cell-0",
        ["validate", "data"],
        2,
        ["data/manifest.json", "cell_size"],
        chain(dataset_copy(), edit_manifest("data", lambda m: m["config"].update(cell_size=0))),
    ),
    Case(
        "validate-cell-7",
        ["validate", "data"],
        2,
        ["data/manifest.json", "cell_size"],
        chain(dataset_copy(), edit_manifest("data", lambda m: m["config"].update(cell_size=7))),
    ),
    Case(
        "validate-cell-800000",
        ["validate", "data"],
        2,
        ["data/manifest.json", "cell_size"],
        chain(dataset_copy(), edit_manifest("data", lambda m: m["config"].update(cell_size=800000))),
    ),
    Case(
        "validate-manifest-list",
        ["validate", "data"],
        2,
        ["data/manifest.json"],
        chain(dataset_copy(), files(**{"data__manifest.json": "[1, 2]"})),
    ),
    Case(
        "validate-manifest-garbage",
        ["validate", "data"],
        2,
        ["data/manifest.json"],
        chain(dataset_copy(), files(**{"data__manifest.json": "\x00\x01garbage"})),
    ),
    Case(
        "validate-manifest-folder",
        ["validate", "data"],
        2,
        ["data/manifest.json", "directory"],
        chain(dataset_copy(), replace_with_dir("data/manifest.json")),
    ),
    Case(
        "validate-manifest-deep",
        ["validate", "data"],
        2,
        ["data/manifest.json", "nesting too deep"],
        chain(dataset_copy(), files(**{"data__manifest.json": deep()})),
    ),
    Case(
        "validate-manifest-huge-int",
        ["validate", "data"],
        2,
        ["data/manifest.json", "thousands of digits"],
        chain(dataset_copy(), files(**{"data__manifest.json": '{"count": ' + "7" * 5000 + "}"})),
    ),
    Case(
        "validate-caption-folder",
        ["validate", "data"],
        1,
        ["dungeon_00000", ".txt"],
        chain(dataset_copy(), replace_with_dir("data/dungeon_00000.txt")),
    ),
    Case(
        "validate-ascii-folder",
        ["validate", "data"],
        1,
        ["dungeon_00000", ".ascii"],
        chain(dataset_copy(), replace_with_dir("data/dungeon_00000.ascii")),
    ),
    Case(
        "validate-fifo-png",
        ["validate", "data"],
        1,
        ["zz_00009.png", "regular file"],
        chain(dataset_copy(), fifo("data/zz_00009.png")),
    ),
    Case(
        "validate-truncated-png",
        ["validate", "data"],
        1,
        ["dungeon_00000.png"],
        chain(
            dataset_copy(),
            lambda d: (d / "data/dungeon_00000.png").write_bytes(
                (d / "data/dungeon_00000.png").read_bytes()[:100]
            ),
        ),
    ),
    Case(
        "validate-no-caption",
        ["validate", "data"],
        1,
        ["dungeon_00000.png", "caption"],
        chain(dataset_copy(), remove("data/dungeon_00000.txt")),
    ),
    Case("validate-empty-dir", ["validate", "empty"], 1, ["empty", "no PNG"], mkdirs("empty")),
    Case(
        "validate-captions-swapped",
        ["validate", "data"],
        1,
        [".txt is not the file", "sha256"],
        chain(dataset_copy(), _swap_two_captions),
    ),
    Case(
        "validate-caption-cut-to-trigger",
        ["validate", "data"],
        1,
        ["dungeon_00000.png", "only the trigger word"],
        chain(dataset_copy(), files(**{"data__dungeon_00000.txt": "ascii_structure_style,\n"})),
    ),
    Case(
        "validate-caption-not-utf8",
        ["validate", "data"],
        1,
        ["dungeon_00000.txt", "not UTF-8"],
        chain(dataset_copy(), files(**{"data__dungeon_00000.txt": b"ascii_structure_style, caf\xe9 map\n"})),
    ),
    Case(
        "validate-jpg-beside",
        ["validate", "data"],
        1,
        ["extra.jpg", "train on"],
        chain(dataset_copy(), _save_as("extra.jpg", "JPEG")),
    ),
    Case(
        "validate-webp-beside",
        ["validate", "data"],
        1,
        ["extra.webp", "train on"],
        chain(dataset_copy(), _save_as("extra.webp", "WEBP")),
    ),
    Case(
        "validate-upper-png-beside",
        ["validate", "data"],
        1,
        ["dungeon_00000.PNG", "train on"],
        chain(dataset_copy(), _save_as("dungeon_00000.PNG", "PNG")),
    ),
    Case(
        "validate-foreign-png-beside",
        ["validate", "data"],
        1,
        ["zz_00000.png", "manifest does not list"],
        chain(
            dataset_copy(),
            lambda d: shutil.copy(d / "data/dungeon_00000.png", d / "data/zz_00000.png"),
            lambda d: shutil.copy(d / "data/dungeon_00000.txt", d / "data/zz_00000.txt"),
            lambda d: shutil.copy(d / "data/dungeon_00000.ascii", d / "data/zz_00000.ascii"),
        ),
    ),
    Case("validate-a-file", ["validate", "f.txt"], 2, ["f.txt", "not a directory"], files(**{"f.txt": "x"})),
    # -- preview ----------------------------------------------------------------------------------------------
    Case(
        "preview-columns-huge",
        ["preview", "data", "--columns", "1000000", "--out", "s.png"],
        2,
        ["--columns"],
        dataset_copy(),
    ),
    Case(
        "preview-count-huge",
        ["preview", "data", "--count", "100000", "--out", "s.png"],
        2,
        ["--count"],
        dataset_copy(),
    ),
    Case(
        "preview-out-proc",
        ["preview", "data", "--out", "/proc/sheet.png"],
        2,
        ["/proc/sheet.png"],
        dataset_copy(),
    ),
    Case(
        "preview-out-folder",
        ["preview", "data", "--out", "sheet.png"],
        2,
        ["sheet.png", "directory"],
        chain(dataset_copy(), mkdirs("sheet.png")),
    ),
    Case(
        "preview-out-missing-parent-file",
        ["preview", "data", "--out", "f/s.png"],
        2,
        ["f"],
        chain(dataset_copy(), files(f="a file where a folder must go")),
    ),
    Case("preview-empty", ["preview", "empty"], 2, ["empty", "no PNG"], mkdirs("empty")),
    Case(
        "preview-default-name-taken",
        ["preview", "data"],
        0,
        ["data_preview.png", "kept", "data_preview-2.png"],
        chain(dataset_copy(), files(**{"data_preview.png": png()})),
        keep=True,
        after=lambda d, r: _is_png(d / "data_preview-2.png"),
    ),
    Case(
        "preview-default-ours-replaced",
        ["preview", "data"],
        0,
        ["data_preview.png"],
        chain(dataset_copy(), _our_old_sheet("data_preview.png")),
        after=lambda d, r: _replaced_in_place(d, "data_preview.png"),
    ),
    Case(
        "preview-fifo",
        ["preview", "data", "--out", "s.png"],
        0,
        ["s.png"],
        chain(dataset_copy(), fifo("data/aa_00000.png")),
    ),
    # -- plan / train --dry-run: run directory, resume ----------------------------------------------------------
    Case("plan-run-dir-proc", ["plan", "--run-dir", "/proc/run"], 2, ["/proc/run"]),
    Case("plan-run-dir-is-file", ["plan", "--run-dir", "r"], 2, ["r"], files(r="x"), keep=True),
    Case(
        "plan-file-is-a-folder",
        ["plan", "--run-dir", "r"],
        2,
        ["train.sh", "directory"],
        mkdirs("r/train.sh"),
    ),
    Case(
        "plan-output-dir-sys",
        ["plan", *WITH],
        2,
        ["/sys/run"],
        config('[training]\noutput_dir = "/sys/run"\n'),
    ),
    Case("train-dry-run-dir-proc", ["train", "--dry-run", "--run-dir", "/proc/run"], 2, ["/proc/run"]),
    Case(
        "resume-flag-no-state",
        ["train", "--dry-run", "--resume", "--run-dir", "run"],
        2,
        ["--resume", "no saved state", "run"],
    ),
    Case(
        "resume-env-no-state",
        ["train", "--dry-run", "--run-dir", "run"],
        2,
        ["RESUME=1", "no saved state"],
        env={"RESUME": "1"},
    ),
    Case(
        "resume-config-no-state",
        ["train", "--dry-run", "--run-dir", "run", *WITH],
        2,
        ["[training] resume", "no saved state"],
        config("[training]\nresume = true\n"),
    ),
    Case(
        "resume-plan-no-state",
        ["plan", "--run-dir", "run", *WITH],
        2,
        ["[training] resume", "no saved state"],
        config("[training]\nresume = true\n"),
    ),
    Case(
        "resume-env-garbage",
        ["train", "--dry-run", "--run-dir", "run"],
        2,
        ["RESUME=maybe"],
        env={"RESUME": "maybe"},
    ),
    Case(
        "resume-env-with-state",
        ["train", "--dry-run", "--run-dir", "run"],
        0,
        ["--resume", "flux_ascii_structure_v1-step00000500-state"],
        files(
            **{
                f"run__{STATE500}__train_state.json": '{"current_step": 500}',
                f"run__{STATE500}__random_states_0.pkl": "x",
            }
        ),
        env={"RESUME": "1"},
    ),
    Case(
        "resume-folder-named-like-a-state",
        ["train", "--dry-run", "--resume", "--run-dir", "run"],
        2,
        [STATE500, "no train_state.json", "--resume", "no saved state"],
        mkdirs(f"run/{STATE500}"),
    ),
    Case(
        "resume-train-state-deep",
        ["train", "--dry-run", "--resume", "--run-dir", "run"],
        2,
        ["no readable current_step", "--resume"],
        files(
            **{
                f"run__{STATE500}__train_state.json": f'{{"current_step": {deep()}}}',
                f"run__{STATE500}__random_states_0.pkl": "x",
            }
        ),
    ),
    Case(
        "resume-train-state-huge-int",
        ["train", "--dry-run", "--resume", "--run-dir", "run"],
        2,
        ["no readable current_step", "--resume"],
        files(
            **{
                f"run__{STATE500}__train_state.json": '{"current_step": ' + "9" * 5000 + "}",
                f"run__{STATE500}__random_states_0.pkl": "x",
            }
        ),
    ),
    Case(
        "stop-unrelated-live-pid",
        ["stop", "--run-dir", "run"],
        2,
        ["pid 1", "another program"],
        files(
            **{
                "run__run.json": json.dumps(
                    {"exit_code": None, "launcher_pid": 1, "launcher_start": 5, "started": 1.0}
                )
            }
        ),
        keep=True,
    ),
    Case(
        "stop-run-json-deep",
        ["stop", "--run-dir", "run"],
        2,
        ["run/run.json", "unreadable"],
        files(**{"run__run.json": deep()}),
        keep=True,
    ),
    Case(
        "train-preflight-incomplete-dataset",
        ["train", "--run-dir", "run", *WITH],
        1,
        ["dataset", "incomplete", "1 of 3"],
        chain(
            config(SMALL.replace("[dataset]\n", '[dataset]\nout = "data"\n')),
            dataset_copy(),
            edit_manifest("data", lambda m: m.update(status="incomplete")),
            _drop_two_samples,
        ),
    ),
    # -- a plan never writes into (or links over) the dataset ------------------------------------------------
    Case(
        "plan-simpletuner-view-is-the-dataset",
        ["plan", "--trainer", "simpletuner", *WITH],
        2,
        ["[training] output_dir", "run/dataset"],
        chain(config(IN_RUN), dataset_copy("run/dataset")),
        keep=True,
    ),
    Case(
        "train-simpletuner-view-is-the-dataset",
        ["train", "--trainer", "simpletuner", *WITH],
        2,
        ["output_dir", "run/dataset"],
        chain(config(IN_RUN), dataset_copy("run/dataset")),
        keep=True,
    ),
    Case(
        "plan-simpletuner-run-dir-flag",
        ["plan", "--trainer", "simpletuner", "--run-dir", "run", *WITH],
        2,
        ["--run-dir", "run/dataset"],
        chain(config(IN_RUN), dataset_copy("run/dataset")),
        keep=True,
    ),
    Case(
        "plan-simpletuner-users-file-in-view",
        ["plan", "--trainer", "simpletuner", *WITH],
        2,
        ["run/dataset", "dungeon_00000.png", "move them"],
        chain(
            config('[dataset]\nout = "data"\n[training]\noutput_dir = "run"\n'),
            dataset_copy(),
            files(**{"run__dataset__dungeon_00000.png": png()}),
        ),
        keep=True,
    ),
    Case(
        "plan-output-dir-is-the-dataset",
        ["plan", *WITH],
        2,
        ["[training] output_dir", "is the dataset folder"],
        chain(config('[dataset]\nout = "data"\n[training]\noutput_dir = "data"\n'), dataset_copy()),
        keep=True,
    ),
    Case(
        "plan-output-dir-inside-the-dataset",
        ["plan", "--run-dir", "data/run", *WITH],
        2,
        ["--run-dir", "inside the dataset folder"],
        chain(config('[dataset]\nout = "data"\n'), dataset_copy()),
        keep=True,
        after=lambda d, r: _nothing_at(d / "data/run"),
    ),
    Case(
        "plan-tilde",
        ["plan", "--run-dir", "run", *WITH],
        0,
        ["run"],
        config('[dataset]\nout = "~/tilde"\n'),
        after=lambda d, r: _plan_points_at(d, d / "tilde"),
    ),
    # -- check / snap: unwritable outputs, special files, stems that collide ------------------------------------
    Case("check-missing-input", ["check", "nope.png"], 2, ["nope.png", "not found"]),
    Case(
        "check-json-proc",
        ["check", "data/dungeon_00000.png", "--json", "/proc/r.json", *WITH],
        2,
        ["/proc/r.json"],
        chain(config(SMALL), dataset_copy()),
    ),
    Case(
        "check-json-folder",
        ["check", "data/dungeon_00000.png", "--json", "r.json", *WITH],
        2,
        ["r.json", "directory"],
        chain(config(SMALL), dataset_copy(), mkdirs("r.json")),
    ),
    Case(
        "check-overlay-dir-file",
        ["check", "data/dungeon_00000.png", "--overlay-dir", "ov", *WITH],
        2,
        ["ov"],
        chain(config(SMALL), dataset_copy(), files(ov="x")),
        keep=True,
    ),
    Case(
        "check-ascii-dir-sys",
        ["check", "data/dungeon_00000.png", "--ascii-dir", "/sys/asc", *WITH],
        2,
        ["/sys/asc"],
        chain(config(SMALL), dataset_copy()),
    ),
    Case(
        "check-report-dir-proc",
        ["check", "data/dungeon_00000.png", "--report-dir", "/proc/rep", *WITH],
        2,
        ["/proc/rep"],
        chain(config(SMALL), dataset_copy()),
    ),
    Case(
        "check-fifo",
        ["check", "p.png", *WITH],
        2,
        ["p.png", "regular file"],
        chain(config(SMALL), fifo("p.png")),
    ),
    Case(
        "check-truncated",
        ["check", "t.png", *WITH],
        2,
        ["t.png"],
        chain(config(SMALL), files(**{"t.png": png()[:40]})),
    ),
    Case(
        "check-empty-folder", ["check", "empty", *WITH], 2, ["empty"], chain(config(SMALL), mkdirs("empty"))
    ),
    Case(
        "check-shared-stem",
        ["check", "s/x.png", "s/x.bmp", "--ascii-dir", "asc", *WITH],
        0,
        ["x.png", "x.bmp"],
        chain(config(SMALL), dataset_copy(), _same_stem_two_formats),
        after=lambda d, r: _two_outputs(d / "asc"),
    ),
    Case(
        "check-json-onto-its-input",
        ["check", "data/dungeon_00000.png", "--json", "data/dungeon_00000.png", *WITH],
        2,
        ["data/dungeon_00000.png", "overwrite this input", "--json"],
        chain(config(SMALL), dataset_copy()),
        keep=True,
    ),
    Case(
        "check-ascii-dir-onto-ground-truth",
        ["check", "data/dungeon_00000.png", "--ascii-dir", "data", *WITH],
        2,
        ["data/dungeon_00000.ascii", "beside the images", "--ascii-dir"],
        chain(config(SMALL), dataset_copy()),
        keep=True,
    ),
    Case(
        "check-default-report-onto-users-file",
        ["check", "runs/sample", *WITH],
        2,
        ["runs/check/report.md", "--report-dir"],
        chain(
            config(SMALL),
            dataset_copy(),
            mkdirs("runs/sample"),
            lambda d: shutil.copy(
                d / "data/dungeon_00000.png", d / "runs/sample/flux_000500_00_20260101120000_1234.png"
            ),
            files(**{"runs__check__report.md": "my own notes"}),
        ),
        keep=True,
    ),
    Case(
        "check-default-report-ours-is-replaced",
        ["check", "runs/sample", *WITH],
        0,
        ["runs/check/report.md"],
        chain(
            config(SMALL),
            dataset_copy(),
            mkdirs("runs/sample"),
            lambda d: shutil.copy(
                d / "data/dungeon_00000.png", d / "runs/sample/flux_000500_00_20260101120000_1234.png"
            ),
            files(**{"runs__check__report.md": "# ascii-lora check report\n\nan earlier run\n"}),
        ),
        after=lambda d, r: _report_rewritten(d / "runs/check/report.md"),
    ),
    Case(
        "snap-into-input-folder",
        ["snap", "near", "--out", "near", *WITH],
        0,
        ["snapped"],
        chain(config(SMALL), dataset_copy(), _near_miss),
        keep=True,
    ),
    Case(
        "snap-out-is-file",
        ["snap", "data/dungeon_00000.png", "--out", "f", *WITH],
        2,
        ["f"],
        chain(config(SMALL), dataset_copy(), files(f="x")),
        keep=True,
    ),
    Case(
        "snap-out-proc",
        ["snap", "data/dungeon_00000.png", "--out", "/proc/snapped", *WITH],
        2,
        ["/proc/snapped"],
        chain(config(SMALL), dataset_copy()),
    ),
    Case(
        "snap-fifo",
        ["snap", "p.png", "--out", "o", *WITH],
        2,
        ["p.png", "regular file"],
        chain(config(SMALL), fifo("p.png")),
    ),
    # -- inspect: malformed safetensors ----------------------------------------------------------------------
    Case(
        "inspect-metadata-list",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "__metadata__"],
        files(**{"l.safetensors": lora(meta=[1, 2])}),
    ),
    Case(
        "inspect-metadata-string",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "__metadata__"],
        files(**{"l.safetensors": lora(meta="x")}),
    ),
    Case(
        "inspect-alpha-meta-text",
        ["inspect", "l.safetensors"],
        0,
        ["ss_network_alpha"],
        files(**{"l.safetensors": lora(meta={"ss_network_alpha": "lots"}, alpha=None)}),
    ),
    Case(
        "inspect-down-shape-empty",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "lora_down", "shape"],
        files(**{"l.safetensors": lora(down=[])}),
    ),
    Case(
        "inspect-alpha-0-bytes",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "alpha"],
        files(**{"l.safetensors": lora(alpha=b"")}),
    ),
    Case(
        "inspect-alpha-1-byte",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "alpha"],
        files(**{"l.safetensors": lora(alpha=b"\x01")}),
    ),
    Case(
        "inspect-offsets-one",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "data_offsets"],
        files(**{"l.safetensors": lora(offsets=[1])}),
    ),
    Case(
        "inspect-offsets-text",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "data_offsets"],
        files(**{"l.safetensors": lora(offsets=["a", "b"])}),
    ),
    Case(
        "inspect-negative-shape",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "shape"],
        files(**{"l.safetensors": lora(down=[-4, 8])}),
    ),
    Case(
        "inspect-fifo",
        ["inspect", "p.safetensors"],
        2,
        ["p.safetensors", "regular file"],
        fifo("p.safetensors"),
    ),
    Case(
        "inspect-folder",
        ["inspect", "d.safetensors"],
        2,
        ["d.safetensors", "directory"],
        mkdirs("d.safetensors"),
    ),
    Case("inspect-dev-zero", ["inspect", "/dev/zero"], 2, ["/dev/zero", "regular file"]),
    Case("inspect-missing", ["inspect", "nope.safetensors"], 2, ["nope.safetensors", "not found"]),
    Case(
        "inspect-header-not-json",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "JSON"],
        files(**{"l.safetensors": safetensors({}, raw_header=b"\xff" * 16)}),
    ),
    Case(
        "inspect-nan-alpha",
        ["inspect", "l.safetensors"],
        0,
        ["warning", "alpha", "NaN"],
        files(**{"l.safetensors": lora(alpha=nan_bf16())}),
    ),
    Case(
        "inspect-rank-mismatch",
        ["inspect", "l.safetensors"],
        0,
        ["warning", "rank"],
        files(**{"l.safetensors": lora(up=[8, 2])}),
    ),
    Case(
        "inspect-header-deep",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "nested too deeply"],
        files(**{"l.safetensors": safetensors({}, raw_header=f'{{"a": {deep()}}}'.encode())}),
    ),
    Case(
        "inspect-block-5000-digits",
        ["inspect", "l.safetensors"],
        0,
        ["1 other"],
        files(**{"l.safetensors": lora_with_block("9" * 5000)}),
    ),
    Case(
        "inspect-shape-4000-digits",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "4002-digit number", "span 64"],
        files(**{"l.safetensors": one_tensor([10**4000, 8], [0, 64])}),
    ),
    Case(
        "inspect-offset-4000-digits",
        ["inspect", "l.safetensors"],
        2,
        ["l.safetensors", "4001-digit number"],
        files(**{"l.safetensors": one_tensor([4, 8], [0, 10**4000])}),
    ),
    Case(
        "inspect-inf-alpha",
        ["inspect", "l.safetensors"],
        0,
        ["warning", "alpha is infinite"],
        files(**{"l.safetensors": lora(alpha=struct.pack("<H", 0x7F80))}),
    ),
    Case(
        "inspect-inf-alpha-json",
        ["inspect", "--json", "l.safetensors"],
        0,
        ["alpha is infinite"],
        files(**{"l.safetensors": lora(alpha=struct.pack("<H", 0x7F80))}),
        after=lambda d, r: _valid_json_without_infinity(r),
    ),
    Case(
        "inspect-nan-alpha-json",
        ["inspect", "--json", "l.safetensors"],
        0,
        ["alpha is NaN"],
        files(**{"l.safetensors": lora(alpha=nan_bf16())}),
        after=lambda d, r: _valid_json_without_infinity(r),
    ),
    Case(
        "inspect-control-chars",
        ["inspect", "l.safetensors"],
        0,
        ["evil"],
        files(**{"l.safetensors": lora(meta={"ss_training_comment": "evil\x1b[2J\x1b]0;title\x07\rX"})}),
        after=lambda d, r: _no_control_chars(r),
    ),
    # -- setup-train must talk to the submodule, never to the parent repository -------------------------------
    Case(
        "setup-train-plain-folder",
        ["setup-train", "--skip-install"],
        2,
        ["vendor/sd-scripts", "submodule"],
        git_repo_with_plain_sd_scripts,
        after=lambda d, r: _parent_repo_untouched(d),
    ),
]


# -- running the table --------------------------------------------------------------------------------------------

DATASETS: dict[str, Path] = {}


@dataclass
class Outcome:
    folder: Path
    before: dict
    result: subprocess.CompletedProcess | None
    error: str | None = None
    seconds: float = 0.0


def _run_case(case: Case, base: Path) -> Outcome:
    d = base / case.id
    d.mkdir()
    try:
        if case.setup:
            case.setup(d)
        before = tree(d)
        t = time.perf_counter()
        r = cli(*case.argv, cwd=d, env=case.env)
        return Outcome(d, before, r, seconds=time.perf_counter() - t)
    except subprocess.TimeoutExpired:
        return Outcome(d, {}, None, f"no answer within {CASE_TIMEOUT} s (a hang)")


@pytest.fixture(scope="session")
def outcomes(request, tmp_path_factory) -> dict[str, Outcome]:
    """Run the selected cases two at a time: each is mostly interpreter start-up, so 2 cores halve the wall time."""
    wanted = {
        item.callspec.params["case"].id
        for item in request.session.items
        if hasattr(item, "callspec") and isinstance(item.callspec.params.get("case"), Case)
    }
    base = tmp_path_factory.mktemp("bad_inputs")
    small = base / "_small"
    small.mkdir()
    (small / C).write_text(SMALL)
    r = cli("dataset", "--config", C, "--out", "data", "--count", "3", "--workers", "1", cwd=small)
    assert r.returncode == 0, r.stderr
    DATASETS["small"] = small / "data"
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {c.id: pool.submit(_run_case, c, base) for c in CASES if c.id in wanted}
        done = {k: f.result() for k, f in futures.items()}
    if os.environ.get("BAD_INPUTS_TIMES"):
        Path(os.environ["BAD_INPUTS_TIMES"]).write_text(
            "".join(f"{o.seconds:.2f} {k}\n" for k, o in sorted(done.items(), key=lambda kv: -kv[1].seconds))
        )
    return done


def test_the_table_is_big_and_ids_are_unique():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)
    commands = {c.argv[0] for c in CASES}
    assert {"dataset", "validate", "preview", "plan", "train", "check", "snap", "inspect"} <= commands


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input(case: Case, outcomes):
    o = outcomes[case.id]
    assert o.error is None, o.error
    r = o.result
    output = r.stdout + r.stderr
    assert "Traceback" not in output, output
    assert r.returncode == case.code, f"exit {r.returncode}, expected {case.code}:\n{output}"
    flat = " ".join(output.split())
    for s in case.says:
        assert " ".join(s.split()) in flat, f"{s!r} missing from:\n{output}"
    if case.code == 2:
        errors = [line for line in r.stderr.splitlines() if "error:" in line]
        assert len(errors) == 1, f"expected one error line:\n{r.stderr}"
    if case.keep:
        after = tree(o.folder)
        changed = [k for k, v in o.before.items() if after.get(k) != v]
        assert not changed, f"pre-existing files changed or lost: {changed}"
    if case.after:
        case.after(o.folder, r)
