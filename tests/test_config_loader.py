"""Reading an experiment file: every mistake is one line that names the file, the [table] and key,
what is wrong and what the user wrote (spelled as in TOML), so it can be fixed without a traceback.

The expected lines are written out in full here: they are what the user reads.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ascii_lora.config.loader import DEFAULT_CONFIG, MAX_CONFIG_BYTES, load_config
from ascii_lora.dataset.manifest import read_manifest
from ascii_lora.errors import UserError

ROOT = Path(__file__).resolve().parents[1]


def refusal(tmp_path: Path, toml: str) -> str:
    """The one line a config file is refused with, its folder written as D."""
    path = tmp_path / "exp.toml"
    path.write_text(toml)
    with pytest.raises(UserError) as e:
        load_config(path)
    return str(e.value).replace(str(tmp_path), "D")


@pytest.mark.parametrize(
    "toml,line",
    [
        # a key no table has: named under its table, no value echoed (the value is not the problem)
        (
            "[dataset]\ncuont = 5\n",
            "D/exp.toml: [dataset] cuont: unknown key (not a setting; check the spelling)",
        ),
        (
            "[dataset.mix]\ndragons = 1\n",
            "D/exp.toml: [dataset.mix] dragons: unknown key (not a setting; check the spelling)",
        ),
        (
            "[training.extra]\nx = 1\n",
            "D/exp.toml: [training] extra: unknown key (not a setting; check the spelling)",
        ),
        ("[datset]\n", "D/exp.toml: datset: unknown key (not a setting; check the spelling)"),
        # a value out of range or of the wrong type: the rule, then what was written
        (
            "[dataset]\ncount = -3\n",
            "D/exp.toml: [dataset] count: Input should be greater than or equal to 1 (got -3)",
        ),
        (
            "[check]\nblack_tolerance = 200\n",
            "D/exp.toml: [check] black_tolerance: Input should be less than or equal to 127 (got 200)",
        ),
        (
            "[network]\ntrain_unet_only = 'yes'\n",
            "D/exp.toml: [network] train_unet_only: Input should be a valid boolean (got 'yes')",
        ),
        (
            "[hardware]\nvram_profile = '8gb'\n",
            "D/exp.toml: [hardware] vram_profile: Input should be '48gb+', '24gb', '16gb' or '12gb' (got '8gb')",
        ),
        # a TOML boolean where a number belongs reads back as the user typed it, not as Python's True
        (
            "[dataset]\ncount = true\n",
            "D/exp.toml: [dataset] count: Input should be a valid integer (got true)",
        ),
        (
            "[hardware]\nnum_gpus = false\n",
            "D/exp.toml: [hardware] num_gpus: Input should be a valid integer (got false)",
        ),
        # one item of a list: its index, counted from 0 as TOML arrays are
        (
            "[dataset.corridor]\nwidth = [1, 'x']\n",
            "D/exp.toml: [dataset.corridor] width[1]: Input should be a valid integer (got 'x')",
        ),
        (
            "[network]\nargs = ['a=1', 2]\n",
            "D/exp.toml: [network] args[1]: Input should be a valid string (got 2)",
        ),
        # a value where a table belongs: the table is named, in brackets
        (
            "[dataset]\nmix = 3\n",
            "D/exp.toml: [dataset.mix]: Input should be a valid dictionary or instance of FamilyMix (got 3)",
        ),
        (
            "dataset = 3\n",
            "D/exp.toml: [dataset]: Input should be a valid dictionary or instance of DatasetConfig (got 3)",
        ),
        # a rule over several keys of one table names the table and echoes no table dump
        (
            "[dataset.corridor]\nwidth = [3, 1]\n",
            "D/exp.toml: [dataset.corridor]: width must be [min, max] with min <= max, got [3, 1]",
        ),
        (
            "[dataset.maze]\nalgorithms = ['kruskal']\n",
            "D/exp.toml: [dataset.maze]: unknown maze algorithm ['kruskal']; allowed: backtracker, prim",
        ),
        # a rule that names its keys itself gets no second location in front of it, whichever table holds it
        (
            "[dataset]\nresolution = 384\n[dataset.corridor]\nwidth = [1, 10]\n",
            "D/exp.toml: [dataset.corridor] width 10 does not fit a grid of 24x24 cells (resolution 384 / cell_size 16): at most 9; "
            "a corridor and its walls must fit twice across the grid",
        ),
        (
            "[training]\nflip_aug = true\n",
            "D/exp.toml: [training] flip_aug = true mirrors the glyphs of the text family; set flip_aug = false or [dataset.mix] text = 0",
        ),
        # a value refused by a rule of its own: "Value error, " is pydantic's wording, not ours
        (
            "[training]\nresolution = [1024, 512]\n",
            "D/exp.toml: [training] resolution: resolution [1024, 512] is not square; the grid images are square (got [1024, 512])",
        ),
    ],
)
def test_one_mistake_is_one_line(tmp_path, toml, line):
    assert refusal(tmp_path, toml) == line


def test_a_value_no_alternative_of_a_union_accepts_names_the_key_not_the_alternatives(tmp_path):
    # training.resolution is ``int | list[int]``: pydantic reports one error per alternative, under
    # tags "int" and "list[int]" that are not keys of the file
    assert refusal(tmp_path, "[training]\nresolution = 'big'\n") == (
        "D/exp.toml: [training] resolution: Input should be a valid integer (got 'big') "
        "(+1 more: D/exp.toml: [training] resolution: Input should be a valid list (got 'big'))"
    )
    assert refusal(tmp_path, "[training]\nresolution = [1024, 'a']\n") == (
        "D/exp.toml: [training] resolution: Input should be a valid integer (got [1024, 'a']) "
        "(+1 more: D/exp.toml: [training] resolution[1]: Input should be a valid integer (got 'a'))"
    )


def test_a_rule_over_the_whole_file_names_the_file_alone():
    # every whole-config rule of ExperimentConfig names its keys ("[training] ..."); a schema's rule
    # that does not is shown after the file name with no empty location in between
    from pydantic import BaseModel, ValidationError, model_validator

    from ascii_lora.config.loader import format_validation_error

    class Schema(BaseModel):
        a: int = 0

        @model_validator(mode="after")
        def _whole(self):
            raise ValueError("the file sets nothing")

    with pytest.raises(ValidationError) as e:
        Schema.model_validate({})
    assert format_validation_error("f.toml", e.value, root=Schema) == "f.toml: the file sets nothing"


def test_several_mistakes_lead_with_the_first_and_count_the_rest(tmp_path):
    assert refusal(tmp_path, "[dataset]\ncount = -3\nseed = -1\nresolution = 1\n") == (
        "D/exp.toml: [dataset] count: Input should be greater than or equal to 1 (got -3) "
        "(+2 more: D/exp.toml: [dataset] seed: Input should be greater than or equal to 0 (got -1); "
        "D/exp.toml: [dataset] resolution: Input should be greater than or equal to 64 (got 1))"
    )


def test_a_bad_command_line_value_is_blamed_on_the_flag_not_the_file(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("[dataset]\nseed = 7\n")
    flags = {("dataset", "count"): "--count", ("dataset", "seed"): "--seed"}
    with pytest.raises(UserError) as e:
        load_config(path, {"dataset": {"count": 0}}, flags)
    assert (
        str(e.value) == "command line --count 0: Input should be greater than or equal to 1 ([dataset] count)"
    )
    with pytest.raises(UserError) as e:
        load_config(path, {"dataset": {"count": True}}, flags)
    assert str(e.value) == "command line --count true: Input should be a valid integer ([dataset] count)"
    # a mistake in the file itself is still the file's, even while another flag is given
    path.write_text("[dataset]\nseed = -7\n")
    with pytest.raises(UserError) as e:
        load_config(path, {"dataset": {"count": 3}}, {("dataset", "count"): "--count"})
    assert str(e.value) == f"{path}: [dataset] seed: Input should be greater than or equal to 0 (got -7)"


def test_overrides_without_a_file_are_blamed_on_the_built_in_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/flux_ascii.toml here
    with pytest.raises(UserError) as e:
        load_config(None, {"dataset": {"count": 0}})
    assert (
        str(e.value)
        == "built-in defaults: [dataset] count: Input should be greater than or equal to 1 (got 0)"
    )
    assert load_config(None).dataset.count == 280  # the model's own default


def test_without_a_path_the_project_config_is_read_when_present(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / DEFAULT_CONFIG).parent.mkdir()
    (tmp_path / DEFAULT_CONFIG).write_text("[dataset]\ncount = 11\n")
    assert load_config().dataset.count == 11
    (tmp_path / DEFAULT_CONFIG).write_text("[dataset]\ncount = 0\n")
    with pytest.raises(UserError) as e:
        load_config()
    assert (
        str(e.value)
        == "configs/flux_ascii.toml: [dataset] count: Input should be greater than or equal to 1 (got 0)"
    )


def test_overrides_replace_single_keys_and_keep_the_rest_of_each_table(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text("[dataset]\ncount = 9\nseed = 5\n[dataset.mix]\nmaze = 4.0\ncave = 0.5\n")
    cfg = load_config(
        path, {"dataset": {"seed": 6, "mix": {"cave": 2.5}}, "training": {"max_train_steps": 10}}
    )
    assert (cfg.dataset.count, cfg.dataset.seed) == (9, 6)
    assert (cfg.dataset.mix.maze, cfg.dataset.mix.cave) == (4.0, 2.5)
    assert cfg.training.max_train_steps == 10
    # a scalar override replaces whatever the file had, a table too
    with pytest.raises(UserError) as e:
        load_config(path, {"dataset": {"mix": 1}})
    assert "[dataset.mix]: Input should be a valid dictionary" in str(e.value)
    # the file on disk is left as it was
    assert path.read_text() == "[dataset]\ncount = 9\nseed = 5\n[dataset.mix]\nmaze = 4.0\ncave = 0.5\n"


def test_dev_null_is_an_empty_config_and_an_empty_file_too(tmp_path):
    assert load_config(Path(os.devnull)).dataset.count == 280
    (tmp_path / "empty.toml").write_text("")
    assert load_config(tmp_path / "empty.toml").dataset.count == 280


def test_a_file_that_is_not_a_config_is_one_line_saying_what_it_is(tmp_path):
    cases = {
        "missing.toml": (
            None,
            f"{tmp_path}/missing.toml: config file not found (pass --config FILE or CONFIG=...)",
        ),
        "folder": ("dir", f"{tmp_path}/folder: is a directory, expected a .toml file"),
        "latin1.toml": (
            "[dataset]\nout = 'caf\xe9'\n".encode("latin-1"),
            f"{tmp_path}/latin1.toml: not UTF-8 text",
        ),
        "huge.toml": (
            b"#" * (MAX_CONFIG_BYTES + 1),
            f"{tmp_path}/huge.toml: 1.0 MiB is larger than the 1 MiB this file may have",
        ),
    }
    for name, (content, line) in cases.items():
        p = tmp_path / name
        if content == "dir":
            p.mkdir()
        elif content is not None:
            p.write_bytes(content)
        with pytest.raises(UserError) as e:
            load_config(p)
        assert str(e.value) == line
    # a dangling symlink is there (lexists) but unreadable: named as such, never "not found" by accident
    (tmp_path / "dangling.toml").symlink_to(tmp_path / "gone.toml")
    with pytest.raises(UserError) as e:
        load_config(tmp_path / "dangling.toml")
    assert str(e.value).startswith(f"{tmp_path}/dangling.toml: ") and "config file not found" not in str(
        e.value
    )
    # exactly the limit is still a config
    (tmp_path / "big.toml").write_bytes(b"#" * MAX_CONFIG_BYTES)
    assert load_config(tmp_path / "big.toml").dataset.count == 280


def test_broken_toml_says_where(tmp_path):
    assert refusal(tmp_path, "[dataset\n").startswith("D/exp.toml: not valid TOML: ")
    assert refusal(tmp_path, "[dataset]\ncount = = 3\n").endswith("(at line 2, column 9)")


def test_the_project_config_loads_as_written():
    cfg = load_config(ROOT / "configs" / "flux_ascii.toml")
    assert cfg.dataset.count >= 1 and cfg.dataset.cell_size == 16


MANIFEST = {
    "tool": "ascii-lora",
    "status": "complete",
    "fingerprint": "f",
    "seed": 1,
    "count": 2,
    "config": {"count": 2},
}


@pytest.mark.parametrize(
    "change,line",
    [
        # a required field left out is named, with nothing to echo
        (lambda m: m.pop("fingerprint"), "D/manifest.json: fingerprint: Field required"),
        (
            lambda m: m.update(count=0),
            "D/manifest.json: count: Input should be greater than or equal to 1 (got 0)",
        ),
        # the manifest's nested config is a table of its own
        (
            lambda m: m["config"].update(cell_size=12),
            "D/manifest.json: [config]: cell_size must be 8, 16 or 32 (16 matches a FLUX token), got 12",
        ),
        (
            lambda m: m["config"].update(count="2"),
            "D/manifest.json: [config] count: Input should be a valid integer (got '2')",
        ),
    ],
)
def test_a_bad_manifest_reads_like_a_bad_config(tmp_path, change, line):
    data = json.loads(json.dumps(MANIFEST))
    change(data)
    (tmp_path / "manifest.json").write_text(json.dumps(data))
    with pytest.raises(UserError) as e:
        read_manifest(tmp_path)
    assert (
        str(e.value).replace(str(tmp_path), "D") == line + "; move the folder aside or choose another --out"
    )
