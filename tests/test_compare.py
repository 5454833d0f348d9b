"""`rehearse --compare`: the peers' presets carry their sources, every side's argv is one sd-scripts
accepts and differs from ours only where speed or memory is decided, the CPU form says what it
changed, the report's numbers follow from the trainer's output, and `--full-size` refuses without CUDA.

The real trainer runs these argv in the rehearsal (`make rehearse`, or `ascii-lora rehearse --compare`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from ascii_lora.cli import main
from ascii_lora.config.models import VRAM_PROFILES, ExperimentConfig
from ascii_lora.rehearse import compare as cmp
from ascii_lora.rehearse import standins as st
from ascii_lora.rehearse.compare_report import CPU_LABEL, add_ratios, measure_run, seconds_per_step, table
from ascii_lora.rehearse.peers import PEERS, SPEED_MEMORY_FLAGS, classes_with_peers, peers_for
from ascii_lora.train.kohya.plan import build_plan

from .kohya_facts import KohyaFacts

ROOT = Path(__file__).resolve().parents[1]
MIRRORS = Path(os.environ.get("ASCII_LORA_MIRRORS", "/work/.mirror"))


@pytest.fixture(scope="module")
def facts() -> KohyaFacts:
    return KohyaFacts()


def trainer_args(argv: list[str]) -> list[str]:
    return argv[next(i for i, a in enumerate(argv) if a.endswith("flux_train_network.py")) + 1 :]


def side_cfg(tmp_path: Path, profile: str = "24gb", batch: int | None = None) -> ExperimentConfig:
    return cmp.compare_config(
        ExperimentConfig(),
        profile,
        tmp_path / "data",
        st.paths(tmp_path / "cache"),
        tmp_path / "run",
        2,
        batch,
        full_size=False,
    )


def flag_names(flags) -> list[str]:
    return [f for f in flags if f.startswith("--")]


# -- the presets as data ---------------------------------------------------------------------------
@pytest.mark.parametrize("p", PEERS, ids=lambda p: p.name)
def test_every_preset_names_its_repository_file_and_commit_and_the_text_behind_each_flag(p):
    assert re.fullmatch(r"[\w.-]+/[\w.-]+", p.source.repo) and p.source.file and p.source.read
    assert re.fullmatch(r"[0-9a-f]{40}", p.source.commit)
    assert p.source.url == f"https://github.com/{p.source.repo}/blob/{p.source.commit}/{p.source.file}"
    assert p.card_class in VRAM_PROFILES and p.batch_size >= 1
    assert set(p.evidence) == {*flag_names(p.flags), "batch_size"}, "a source text per flag and batch"
    assert set(flag_names(p.flags)) <= set(SPEED_MEMORY_FLAGS), "a preset records only speed/memory flags"


@pytest.mark.parametrize("p", PEERS, ids=lambda p: p.name)
def test_the_source_text_of_every_flag_is_in_the_file_at_that_commit(p):
    mirror = MIRRORS / p.source.repo.replace("/", "+") / "repo"
    r = subprocess.run(
        ["git", "-C", str(mirror), "show", f"{p.source.commit}:{p.source.file}"],
        capture_output=True,
        text=True,
    )
    if r.returncode:
        pytest.skip(f"no mirror of {p.source.repo} at {p.source.commit[:12]} here")
    missing = {flag: text for flag, text in p.evidence.items() if text not in r.stdout}
    assert not missing


def test_the_peers_are_fluxgyms_three_vram_choices_and_the_kohya_ss_flux_preset():
    assert {p.name for p in PEERS} == {
        "fluxgym-20G",
        "fluxgym-16G",
        "fluxgym-12G",
        "kohya_ss-flux1D-adamw8bit-fp8",
    }
    assert [p.name for p in peers_for("24gb")] == ["fluxgym-20G", "kohya_ss-flux1D-adamw8bit-fp8"]
    assert peers_for("48gb+") == () and set(classes_with_peers()) == {"24gb", "16gb", "12gb"}
    twelve = next(p for p in PEERS if p.name == "fluxgym-12G")
    assert "--split_mode" in twelve.flags and "train_blocks=single" in twelve.flags


# -- each side's argv ------------------------------------------------------------------------------
@pytest.mark.parametrize("p", PEERS, ids=lambda p: p.name)
@pytest.mark.parametrize("adapt", [False, True], ids=["gpu-form", "cpu-form"])
def test_a_peer_sides_argv_is_accepted_by_sd_scripts_and_differs_from_ours_only_in_speed_and_memory(
    facts, tmp_path, p, adapt
):
    ours = build_plan(side_cfg(tmp_path, p.card_class), tmp_path).argv
    flags = cmp.cpu_form(list(p.flags))[0] if adapt else list(p.flags)
    theirs = cmp.with_flags(build_plan(side_cfg(tmp_path, p.card_class, p.batch_size), tmp_path).argv, flags)
    a, b = facts.parse(trainer_args(ours)), facts.parse(trainer_args(theirs))
    speed = {facts.flags[f]["dest"] for f in SPEED_MEMORY_FLAGS}
    assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} <= speed
    assert facts.parse(flags) == {k: v for k, v in b.items() if k in speed}, "the side runs exactly its flags"
    launch = [argv[: argv.index(trainer_args(argv)[0])] for argv in (ours, theirs)]
    assert launch[0] == launch[1], "accelerate's part is kept"


def test_the_peers_batch_goes_into_its_dataset_toml_and_ours_stays_the_profiles(tmp_path):
    def batch(cfg):
        return build_plan(cfg, tmp_path).dataset_config["datasets"][0]["batch_size"]

    assert batch(side_cfg(tmp_path, "24gb", 1)) == 1
    assert batch(side_cfg(tmp_path, "24gb")) == VRAM_PROFILES["24gb"].batch_size


def test_every_side_trains_the_same_rank_resolution_steps_and_captions(tmp_path):
    user = ExperimentConfig.model_validate({"network": {"dim": 16, "alpha": 8}, "training": {"seed": 7}})
    cfgs = [
        cmp.compare_config(user, prof, tmp_path / "d", st.paths(tmp_path), tmp_path / "r", 3, b, False)
        for prof, b in (("24gb", None), ("24gb", 1), ("16gb", 1))
    ]
    shared = {(c.network.dim, c.training.side, c.training.max_train_steps, c.training.seed) for c in cfgs}
    assert shared == {(16, 384, 3, 7)}
    assert all(not c.sample.at_first and c.training.save_every_n_steps > 3 for c in cfgs), "no sampling"


def test_our_side_reports_the_flags_our_plan_emits(tmp_path):
    side = cmp.our_side(build_plan(side_cfg(tmp_path, "16gb"), tmp_path).argv, "16gb", 1)
    assert side.flags[side.flags.index("--blocks_to_swap") + 1] == str(VRAM_PROFILES["16gb"].blocks_to_swap)
    assert "--fp8_base" in side.flags and side.flags[side.flags.index("--optimizer_type") + 1] == "AdamW8bit"
    assert "--pretrained_model_name_or_path" not in side.flags


def test_split_flags_takes_each_named_flag_with_all_its_values():
    args = ["--a", "1", "--optimizer_args", "x=1", "y=2", "--sdpa", "--b"]
    kept, taken = cmp.split_flags(args, {"--optimizer_args", "--sdpa"})
    assert kept == ["--a", "1", "--b"] and taken == ["--optimizer_args", "x=1", "y=2", "--sdpa"]


def test_the_cpu_form_drops_block_swap_and_split_mode_and_says_why():
    flags, notes = cmp.cpu_form(
        ["--sdpa", "--blocks_to_swap", "16", "--split_mode", "--network_args", "train_blocks=single"]
    )
    assert flags == ["--sdpa", "--network_args", "train_blocks=single"]
    assert len(notes) == 2 and notes[0].startswith("dropped --blocks_to_swap 16: ") and "CUDA" in notes[0]
    assert notes[1].startswith("dropped --split_mode: ") and "--blocks_to_swap 18" in notes[1]
    assert cmp.cpu_form(["--sdpa", "--highvram"]) == (["--sdpa", "--highvram"], [])
    flags, notes = cmp.cpu_form(["--fp8_base", "--full_bf16", "--gradient_checkpointing"])
    assert flags == ["--gradient_checkpointing"] and [n.split(":")[0] for n in notes] == [
        "dropped --fp8_base",
        "dropped --full_bf16",
    ]


def test_the_cpu_form_trains_in_fp32_and_sd_scripts_accepts_it(facts, tmp_path):
    argv = build_plan(side_cfg(tmp_path), tmp_path).argv
    fp32, notes = cmp.cpu_precision(argv)
    values = [fp32[i + 1] for i, a in enumerate(fp32) if a == "--mixed_precision"]
    assert values == ["no", "no"] and len(notes) == 1 and "bf16" in notes[0]
    assert facts.parse(trainer_args(fp32))["mixed_precision"] == "no"

    def others(v):
        return [a for i, a in enumerate(v) if v[i - 1] != "--mixed_precision"]

    assert others(fp32) == others(argv), "only the precision changes"
    assert cmp.cpu_precision(fp32) == (fp32, []), "nothing to say when nothing changed"


# -- numbers from the trainer's output -------------------------------------------------------------
# as sd-scripts and sd_launcher.py printed them (tqdm's \r updates; the launcher's exit lines)
RUN = (
    "steps:  50%|█████     | 1/2 [01:05<01:05, 65.10s/it]"
    "\rsteps:  50%|█████     | 1/2 [01:05<01:05, 65.10s/it, avr_loss=0.5]"
    "\rsteps: 100%|██████████| 2/2 [02:05<00:00, 62.70s/it, avr_loss=0.4]\n"
    "[rehearsal launcher] peak RSS: 3.50 GiB\n"
)


def test_step_time_leaves_out_the_first_step_and_speed_is_per_image():
    row = measure_run(RUN, batch=2, steps=2)
    assert row == {"seconds_per_step": 60.0, "images_per_second": round(2 / 60, 4), "peak_rss_gib": 3.5}
    gpu = RUN.replace("peak RSS: 3.50 GiB", "peak CUDA memory: 17.25 GiB allocated, 19.00 GiB reserved")
    cuda = measure_run(gpu, 1, 2)
    assert (cuda["peak_allocated_gib"], cuda["peak_reserved_gib"]) == (17.25, 19.0)
    assert "peak_rss_gib" not in cuda


def test_no_step_time_without_two_steps_in_the_bar():
    assert seconds_per_step(RUN, 1) is None
    assert seconds_per_step(RUN.split("\rsteps: 100%")[0], 2) is None, "a run that died after step 1"


def test_ratios_are_ours_over_theirs_and_a_failed_side_gets_none():
    rows = add_ratios(
        [
            {"images_per_second": 0.04, "seconds_per_step": 50.0, "peak_rss_gib": 3.0},
            {"images_per_second": 0.02, "seconds_per_step": 50.0, "peak_rss_gib": 4.0},
            {"exit_code": 1},
        ]
    )
    assert rows[1]["ours_over_theirs"] == {
        "images_per_second": 2.0,
        "seconds_per_step": 1.0,
        "peak_memory": 0.75,
    }
    assert set(rows[2]["ours_over_theirs"].values()) == {None}


HEAD = {
    "label": CPU_LABEL,
    "device": "CPU",
    "stand_ins": "tiny",
    "steps": 2,
    "resolution": 384,
    "rank": 64,
    "date": "2026-12-06",
}


def test_the_table_carries_the_label_and_one_line_per_side():
    sides = add_ratios(
        [
            {
                "name": "ascii-lora 24gb",
                "batch": 2,
                "exit_code": 0,
                "seconds_per_step": 60.0,
                "images_per_second": 0.0333,
                "peak_rss_gib": 3.0,
                "adapted": [],
            },
            {"name": "fluxgym-20G", "batch": 1, "exit_code": 2, "adapted": ["dropped --split_mode: why"]},
        ]
    )
    text = table({**HEAD, "classes": [{"card_class": "24gb", "sides": sides}]})
    rows = [line for line in text.splitlines() if line.startswith("| 24gb")]
    assert text.startswith(f"**{CPU_LABEL}**") and len(rows) == 2
    assert "3 GiB RSS" in rows[0] and "FAILED, exit 2" in rows[1] and "dropped --split_mode" in rows[1]


# -- refusals --------------------------------------------------------------------------------------
def test_full_size_without_cuda_is_refused_in_one_line_and_the_cpu_form_is_not():
    assert cmp.full_size_refusal(True, lambda: False) == cmp.FULL_SIZE_NEEDS_CUDA
    assert cmp.full_size_refusal(True, lambda: True) is None
    assert cmp.full_size_refusal(False, lambda: False) is None


def test_compare_full_size_without_cuda_exits_with_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from ascii_lora.rehearse import train_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_env, "missing_modules", lambda python: [])  # as if run inside the train env
    monkeypatch.setattr(cmp, "cuda_available", lambda: False)
    monkeypatch.setenv("ASCII_LORA_SD_SCRIPTS_FROM_TARBALL", "1")  # a device copy: no submodule check; CUDA's
    assert main(["rehearse", "--compare", "--full-size", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--full-size" in err and "CUDA" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / ".cache").exists()


def test_compare_for_a_class_without_peers_is_refused_before_any_install(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.toml").write_text('[hardware]\nvram_profile = "48gb+"\n')
    assert main(["rehearse", "--compare", "--config", "big.toml"]) == 2
    err = capsys.readouterr().err
    assert "48gb+" in err and "24gb" in err and not (tmp_path / ".venv-train").exists()


def test_a_compare_json_round_trips_into_its_table(tmp_path):
    side = {"name": "ours", "batch": 1, "exit_code": 0, "seconds_per_step": 2.0, "images_per_second": 0.5}
    result = {**HEAD, "classes": [{"card_class": "16gb", "sides": [side]}]}
    cmp._write(tmp_path, result)
    assert json.loads((tmp_path / "compare.json").read_text()) == result
    assert (tmp_path / "compare.md").read_text() == table(result)
    assert cmp.ok(result) and not cmp.ok({"classes": [{"sides": [{"exit_code": 0}]}]})


def test_the_compare_plan_writes_a_dataset_toml_sd_scripts_accepts(facts, tmp_path):
    from ascii_lora.train.plan_files import write_plan

    plan = build_plan(side_cfg(tmp_path, "12gb", 1), tmp_path)
    write_plan(plan, tmp_path)
    facts.check_dataset_toml(tomllib.loads((plan.run_dir / "dataset_config.toml").read_text()))


def test_compare_without_the_submodule_says_what_is_missing(tmp_path, capsys, monkeypatch):
    from ascii_lora.rehearse import train_env

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(train_env, "missing_modules", lambda python: [])
    assert main(["rehearse", "--compare"]) == 2
    err = capsys.readouterr().err
    assert "vendor/sd-scripts" in err and "Traceback" not in err and not (tmp_path / "runs").exists()


def test_the_rehearsal_phase_fails_when_a_side_fails_and_skips_a_class_without_peers(tmp_path, monkeypatch):
    def fake_compare(cfg, root, out, models, data, classes, steps, log):
        ours = {
            "name": "ascii-lora 24gb",
            "exit_code": 0,
            "seconds_per_step": 60.0,
            "images_per_second": 0.03,
        }
        theirs = {"name": "fluxgym-20G", "exit_code": 1, "error": "Traceback ... CUDA"}
        sides = add_ratios([ours, theirs])
        return {"label": CPU_LABEL, "classes": [{"card_class": classes[0], "sides": sides}]}

    monkeypatch.setattr(cmp, "compare", fake_compare)
    with pytest.raises(RuntimeError, match="fluxgym-20G exit 1: Traceback ... CUDA"):
        cmp.rehearsal_phase(ExperimentConfig(), tmp_path, tmp_path, tmp_path, st.paths(tmp_path))
    big = ExperimentConfig.model_validate({"hardware": {"vram_profile": "48gb+"}})
    assert "nothing to compare" in cmp.rehearsal_phase(big, tmp_path, tmp_path, tmp_path, st.paths(tmp_path))


def test_the_cpu_form_trains_on_the_rehearsals_own_images_and_asks_for_its_stand_ins(tmp_path, monkeypatch):
    from ascii_lora.rehearse.run import REHEARSAL

    asked = {}

    def build(cache, sd, texts, sizes, log):
        asked.update(texts=texts, sizes=sizes)
        return "m"

    monkeypatch.setattr(st, "build", build)
    data, models = cmp.prepare(
        ExperimentConfig(), tmp_path, tmp_path / "rehearsal", tmp_path / "cache", False
    )
    captions = sorted(p.read_text().strip() for p in data.glob("*.txt"))
    assert data == tmp_path / "rehearsal" / "data" and len(captions) == REHEARSAL["dataset"]["count"]
    assert sorted(asked["texts"]) == sorted([*captions, *ExperimentConfig().sample.prompts])
    assert asked["sizes"] == st.Sizes.tiny() and models == "m"


def test_the_make_rehearse_phase_runs_on_the_rehearsals_images_and_stand_ins(tmp_path, monkeypatch):
    from ascii_lora.rehearse.phases import phases_for
    from ascii_lora.rehearse.state import RehearsalState

    seen = {}
    monkeypatch.setattr(cmp, "rehearsal_phase", lambda *a: seen.update(args=a) or "verdict")
    name, phase = phases_for("compare")[-1]
    pre = ExperimentConfig.model_validate(
        {"dataset": {"out": str(tmp_path / "images")}}
    )  # wherever it wrote them
    state = RehearsalState(
        root=tmp_path,
        out=tmp_path / "rehearsal",
        cache=tmp_path / "cache",
        sizes=None,
        user=ExperimentConfig(),
        pre=pre,
        name="x",
        run_dir=tmp_path / "run",
        config_file=tmp_path / "r.toml",
        on_line=print,
        train_timeout=1.0,
        standins="the stand-ins",
    )
    assert phase(state) == "verdict" and "compare" in name
    _, root, out, data, models, steps, _ = seen["args"]
    assert (out, data, models, steps) == (
        tmp_path / "rehearsal" / "compare",
        tmp_path / "images",
        "the stand-ins",
        2,
    )
