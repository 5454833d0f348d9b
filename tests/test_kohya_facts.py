"""The committed sd-scripts facts are the pinned commit's, and the extractor reads source faithfully.

tests/fixtures/sd_scripts_facts.json stands in for sd-scripts in every clone; `make facts`
rebuilds it from vendor/sd-scripts with tools/kohya_facts.py. These tests pin it to the commit
the plan launches, re-extract it whenever the submodule is checked out, and run the extractor on
a small hand-written tree so that its reading of argparse and voluptuous is itself tested.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ascii_lora.train.kohya.plan import SD_SCRIPTS_COMMIT

from .kohya_facts import FIXTURE, KohyaFacts

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "vendor" / "sd-scripts"


def _tool():
    spec = importlib.util.spec_from_file_location("kohya_facts_tool", ROOT / "tools" / "kohya_facts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def test_fixture_is_from_the_commit_the_plan_launches_and_the_submodule_pins():
    assert KohyaFacts().commit == SD_SCRIPTS_COMMIT
    r = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-s", "vendor/sd-scripts"], capture_output=True, text=True
    )
    if r.returncode or not r.stdout:
        pytest.skip("not a git checkout: the submodule's pinned commit cannot be read")
    mode, commit, *_ = r.stdout.split()
    assert mode == "160000" and commit == SD_SCRIPTS_COMMIT


@pytest.mark.skipif(
    not (VENDOR / "flux_train_network.py").is_file(), reason="vendor/sd-scripts is not checked out"
)
def test_fixture_matches_a_fresh_extraction_from_the_submodule():
    tool = _tool()
    fresh = tool.dumps(tool.extract(VENDOR))
    assert fresh == FIXTURE.read_text(encoding="utf-8"), (
        "sd-scripts facts drifted: run `make facts` and review the diff"
    )


def test_fixture_holds_the_facts_the_plan_relies_on():
    """Spot checks read by hand at the pinned commit (file:line in the fixture's `source`)."""
    f = KohyaFacts()
    assert f.default("network_alpha") == 1  # so the plan always passes --network_alpha
    assert f.default("guidance_scale") == 3.5  # FLUX.1-dev is trained with 1.0: always passed
    assert f.default("caption_extension") == ".caption"  # so the dataset TOML sets ".txt"
    assert f.flags["--fp8_base"]["store_true"] and f.flags["--save_state"]["store_true"]
    assert f.flags["--network_train_unet_only"]["store_true"]
    assert f.flags["--lr_warmup_steps"]["type"] == "int_or_float"
    assert f.flags["--mixed_precision"]["choices"] == ["no", "fp16", "bf16"]
    assert f.schema["datasets.subsets"]["image_dir"] == {"required": True, "type": "str"}
    assert f.schema["datasets"]["resolution"]["type"] == "int | [int, int]"
    assert "metadata_file" not in f.schema["datasets.subsets"]  # DreamBooth-style subsets
    mods = f.lora_modules
    assert len(mods) == 19 * 10 + 38 * 3
    assert mods["lora_unet_double_blocks_0_img_mod_lin"] == {"in_features": 3072, "out_features": 6 * 3072}
    assert mods["lora_unet_single_blocks_37_linear1"] == {
        "in_features": 3072,
        "out_features": 3 * 3072 + 4 * 3072,
    }
    assert sum(m["in_features"] + m["out_features"] for m in mods.values()) == 4_786_176  # params per rank
    assert f.requirements["accelerate"] == "==1.6.0" and f.requirements["voluptuous"] == "==0.15.2"


TREE = {
    "flux_train_network.py": """
        import argparse
        import train_network
        from library import train_util, flux_train_utils

        def setup_parser() -> argparse.ArgumentParser:
            parser = train_network.setup_parser()
            train_util.add_dataset_arguments(parser, True, False)
            flux_train_utils.add_flux_train_arguments(parser)
            return parser
    """,
    "train_network.py": """
        import argparse
        import library.train_util as train_util
        from library.utils import add_logging_arguments

        def setup_parser() -> argparse.ArgumentParser:
            parser = argparse.ArgumentParser()
            add_logging_arguments(parser)
            parser.add_argument("--network_alpha", type=float, default=1, help="x")
            return parser
            parser.add_argument("--after_return", action="store_true")

        def train():
            blueprint = ConfigSanitizer(True, True, args.masked_loss, True)
    """,
    "library/__init__.py": "",
    "library/utils.py": """
        def add_logging_arguments(parser):
            parser.add_argument("--console_log_level", type=str, default=None, choices=["DEBUG", "INFO"])
    """,
    "library/train_util.py": """
        DEFAULT_EXT = ".caption"

        def add_dataset_arguments(parser, support_dreambooth: bool, support_caption: bool, support_dropout: bool = True):
            parser.add_argument("--caption_extension", type=str, default=DEFAULT_EXT)
            if support_dreambooth:
                parser.add_argument("--reg_data_dir", type=str, default=None)
            if support_caption:
                parser.add_argument("--only_with_caption", action="store_true")
            if not support_caption and support_dropout:
                parser.add_argument("--dropout_without_caption", nargs="*", type=int)

            def int_or_float(value):
                return float(value)

            parser.add_argument("--lr_warmup_steps", type=int_or_float, default=0)
    """,
    "library/flux_train_utils.py": """
        def add_flux_train_arguments(parser):
            parser.add_argument("--guidance_scale", type=float, default=3.5)
    """,
}


def _git_tree(path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (path / rel).parent.mkdir(parents=True, exist_ok=True)
        (path / rel).write_text(textwrap.dedent(text))
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "tree"]):
        subprocess.run(["git", "-C", str(path), *cmd], check=True, env={**env, "PATH": "/usr/bin:/bin"})
    return path


def test_extractor_follows_helper_calls_their_flags_and_stops_at_return(tmp_path):
    flags = {f["dest"]: f for f in _tool().extract_flags(_tool().Source(_git_tree(tmp_path, TREE)))}
    assert list(flags) == [
        "console_log_level",
        "network_alpha",
        "caption_extension",
        "reg_data_dir",
        "dropout_without_caption",
        "lr_warmup_steps",
        "guidance_scale",
    ]  # parser order; --only_with_caption is behind support_caption=False, --after_return never runs
    assert flags["console_log_level"]["choices"] == ["DEBUG", "INFO"]
    assert flags["caption_extension"]["default"] == ".caption"  # module constant resolved
    assert (
        flags["dropout_without_caption"]["nargs"] == "*" and flags["dropout_without_caption"]["type"] == "int"
    )
    assert flags["lr_warmup_steps"]["type"] == "int_or_float"
    assert flags["network_alpha"] == {
        "options": ["--network_alpha"],
        "dest": "network_alpha",
        "type": "float",
        "choices": None,
        "nargs": None,
        "store_true": False,
        "default": 1,
        "source": "train_network.py:9",
    }


def test_extractor_refuses_what_it_does_not_model(tmp_path):
    tool = _tool()
    tree = dict(TREE)
    tree["library/flux_train_utils.py"] = """
        def add_flux_train_arguments(parser):
            parser.add_argument("--mode", action="store_const", const=1)
    """
    with pytest.raises(tool.Unsupported, match="store_const|const"):
        tool.extract_flags(tool.Source(_git_tree(tmp_path, tree)))
