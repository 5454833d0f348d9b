"""`ascii-lora publish`: which LoRA, exactly which files, a card the Hub's own parser reads, the upload.

The card is judged by huggingface_hub's ``ModelCard``; the upload goes through the real
``HfApi`` to a fake Hub on 127.0.0.1 (tests/fake_hub.py), so what arrives is what the Hub would get.
"""

from __future__ import annotations

import json

import pytest
from huggingface_hub import HfApi, ModelCard

from ascii_lora.errors import UserError
from ascii_lora.publish.choose import choose_lora
from ascii_lora.publish.folder import ALLOW, check_folder
from ascii_lora.publish.hub import check_repo_id, upload
from ascii_lora.publish.run import publish

from .fake_hub import FakeHub
from .publish_helpers import NAME, PROMPTS, experiment, samples, verified_run

TOKEN = "hf_publishTestTokenThatMustNeverLeak"


@pytest.fixture
def run(tmp_path):
    cfg = experiment(tmp_path)
    return cfg, verified_run(tmp_path, cfg)


@pytest.fixture
def hub(monkeypatch):
    """The fake Hub; huggingface_hub's retry back-off (5xx, cut connections) without its waits."""
    import time
    import types

    from huggingface_hub.utils import _http

    fast = types.SimpleNamespace(**{n: getattr(time, n) for n in dir(time) if not n.startswith("_")})
    fast.sleep = lambda seconds: None
    monkeypatch.setattr(_http, "time", fast)
    h = FakeHub()
    yield h
    h.close()


def dry(cfg, files, tmp_path, **kw):
    return publish(cfg, files["run"], "me/ascii-maps", out=tmp_path / "folder", dry_run=True, **kw)


# -- which LoRA ---------------------------------------------------------------------------------


def test_the_choice_is_the_named_file_then_verify_s_winner_then_the_final_file(run, tmp_path):
    cfg, f = run
    assert choose_lora(f["run"], NAME, f["step2"]).why == "--lora"
    assert (choose_lora(f["run"], NAME).path, choose_lora(f["run"], NAME).why) == (
        f["winner"],
        "verify's winner",
    )
    f["winner"].unlink()  # a winner that is gone is not guessed at
    assert (choose_lora(f["run"], NAME).path, choose_lora(f["run"], NAME).why) == (
        f["final"],
        "the run's final file",
    )
    f["final"].unlink()
    with pytest.raises(UserError, match="no LoRA to publish"):
        choose_lora(f["run"], NAME)


@pytest.mark.parametrize("bad", ["missing.safetensors", "run/config.resolved.toml", "run"])
def test_a_named_lora_that_is_no_safetensors_file_is_refused(run, tmp_path, bad):
    cfg, f = run
    with pytest.raises(UserError, match="--lora"):
        choose_lora(f["run"], NAME, tmp_path / bad)


# -- the folder ---------------------------------------------------------------------------------


def test_the_folder_holds_exactly_the_shareable_files_and_never_states_caches_scripts_or_logs(run, tmp_path):
    cfg, f = run
    folder = dry(cfg, f, tmp_path).folder
    on_disk = sorted(str(p.relative_to(folder.path)) for p in folder.path.rglob("*") if p.is_file())
    assert folder.files == [p for p in on_disk if p != ".ascii-lora-publish"]
    assert set(folder.files) == {
        f"{NAME}-step00000004.safetensors",
        "README.md",
        "config.resolved.toml",
        "dataset.json",
        "images/p00_s0000.png",
        "images/p01_s0000.png",
        "verify/report.md",
        "verify/chart.png",
        "verify/contact_sheet.png",
        "ascii/p00_s0000.ascii",
    }
    assert (folder.path / f"{NAME}-step00000004.safetensors").read_bytes() == f["winner"].read_bytes()
    text = "".join(
        (folder.path / p).read_text(errors="replace")
        for p in folder.files
        if not p.endswith((".png", ".safetensors"))
    )
    assert str(tmp_path) not in text, "a local path reached the upload folder"
    dataset = json.loads((folder.path / "dataset.json").read_text())
    assert (
        dataset["count"] == 2
        and dataset["seed"] == cfg.dataset.seed
        and sum(dataset["families"].values()) == 2
    )


@pytest.mark.parametrize(
    "planted, why",
    [
        ("train.sh", "deny list"),
        ("data/x_flux.npz", "deny list"),
        ("notes.txt", "no allow list"),
        # allowed by a pattern (upload_folder's * crosses folders), stopped by the deny list alone
        ("x-step00000002-state/model.safetensors", "deny list"),
        ("images/te_cache.png", "deny list"),
    ],
)
def test_a_file_outside_the_lists_stops_the_upload(tmp_path, planted, why):
    (tmp_path / "README.md").write_text("ok\n")
    (tmp_path / planted).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / planted).write_text("x")
    with pytest.raises(UserError, match=why):
        check_folder(tmp_path, tmp_path / "elsewhere")


def test_a_text_naming_the_run_folder_stops_the_upload(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (tmp_path / "README.md").write_text(f"trained in {run.resolve()}\n")
    with pytest.raises(UserError, match="names the local path"):
        check_folder(tmp_path, run)


def test_the_allow_list_is_what_upload_folder_filters_with():
    from ascii_lora.publish import folder as fo

    assert {"README.md", "config.resolved.toml", "dataset.json"} <= set(ALLOW)
    assert not any(fo.allowed(p) for p in ("train.sh", "x.log", "scores.json", "run.json", "sample/a.png"))


def test_an_out_folder_publish_did_not_write_is_left_alone(run, tmp_path):
    cfg, f = run
    mine = tmp_path / "folder"
    mine.mkdir()
    (mine / "thesis.tex").write_text("precious")
    with pytest.raises(UserError, match="did not write"):
        dry(cfg, f, tmp_path)
    assert (mine / "thesis.tex").read_text() == "precious"
    mine.joinpath("thesis.tex").unlink()
    dry(cfg, f, tmp_path)
    dry(cfg, f, tmp_path)  # its own folder is replaced on the next run
    assert not list(tmp_path.glob(".folder.tmp-*"))


# -- the card -----------------------------------------------------------------------------------


def card_of(folder) -> ModelCard:
    return ModelCard.load(folder.path / "README.md")


def test_the_card_carries_the_hub_metadata_and_every_widget_picture_is_in_the_folder(run, tmp_path):
    cfg, f = run
    folder = dry(cfg, f, tmp_path).folder
    meta = card_of(folder).data.to_dict()
    assert meta["base_model"] == "black-forest-labs/FLUX.1-dev" and meta["base_model_relation"] == "adapter"
    assert (meta["license"], meta["license_name"]) == ("other", "flux-1-dev-non-commercial-license")
    assert meta["license_link"].endswith("FLUX.1-dev/blob/main/LICENSE.md")
    assert {"flux", "lora", "text-to-image", "diffusers", "template:sd-lora", "ascii-lora"} <= set(
        meta["tags"]
    )
    assert meta["instance_prompt"] == "ascii_structure_style"
    assert [w["text"] for w in meta["widget"]] == PROMPTS
    for w in meta["widget"]:
        assert w["output"]["url"] in folder.files


def test_the_card_quotes_verify_s_counts_with_their_95_percent_intervals_beside_the_base_model(run, tmp_path):
    """Oracle: Wilson 95 % at 8/16 is [28.0 %, 72.0 %], at 0/16 [0, 19.4 %], at 16/16 [80.6 %, 100 %]."""
    cfg, f = run
    text = card_of(dry(cfg, f, tmp_path).folder).text
    lora = next(line for line in text.splitlines() if line.startswith("| this LoRA (step 4)"))
    base = next(line for line in text.splitlines() if line.startswith("| base model"))
    assert "| 8/16 = 50% [28-72%] |" in lora and "16/16 = 100% [81-100%]" in lora  # overall, crisp
    assert "| 0/16 = 0% [0-19%] |" in base
    header = next(line for line in text.splitlines() if line.startswith("| | overall pass"))
    assert all(c in header for c in ("content", "black background", "crisp", "grid aligned"))
    assert (
        "never verified" not in text
        and 'weight_name="flux_ascii_structure_v1-step00000004.safetensors"' in text
    )
    assert "LoraLoaderModelOnly" in text and "48d368fa" in text and "rank (dim) 4, alpha 2" in text


def test_a_run_never_verified_says_so_and_shows_the_last_training_samples(run, tmp_path):
    cfg, f = run
    import shutil

    shutil.rmtree(f["run"] / "verify")
    samples(f["run"], 2)
    newest = samples(f["run"], 4)
    folder = dry(cfg, f, tmp_path).folder
    card = card_of(folder)
    assert (
        "This run was never verified" in card.text
        and "%" not in card.text.split("## How well it works")[1].split("##")[0]
    )
    assert [w["output"]["url"] for w in card.data.widget] == [
        "images/sample_p00.png",
        "images/sample_p01.png",
    ]
    assert (folder.path / "images/sample_p01.png").read_bytes() == newest[1].read_bytes()
    assert f"{NAME}.safetensors" in folder.files and not any(p.startswith("verify/") for p in folder.files)


def test_a_named_lora_that_verify_never_drew_claims_no_rate(run, tmp_path):
    cfg, f = run
    card = card_of(dry(cfg, f, tmp_path, lora=f["step2"]).folder)
    assert "was not among the checkpoints" in card.text and "| this LoRA" not in card.text
    assert "| base model" in card.text  # the yardstick is still shown


# -- the upload ---------------------------------------------------------------------------------


def test_the_upload_creates_the_repo_and_commits_exactly_the_folder_s_files(run, tmp_path, hub):
    cfg, f = run
    result = publish(
        cfg, f["run"], "team/ascii-maps", api=HfApi(endpoint=hub.endpoint, token=TOKEN), private=True
    )
    [created] = hub.state.created
    assert (created["organization"], created["name"]) == ("team", "ascii-maps")
    assert (
        created.get("private") is True or created.get("visibility") == "private"
    )  # huggingface_hub 0.x / 1.x+
    assert len(hub.state.commits) == 1
    sent = hub.state.commits[0]
    assert sorted(sent) == result.folder.files and ".ascii-lora-publish" not in sent
    assert sent[f"{NAME}-step00000004.safetensors"] == f["winner"].read_bytes()
    assert ModelCard(sent["README.md"].decode()).data.base_model == "black-forest-labs/FLUX.1-dev"
    assert hub.state.tokens == {f"Bearer {TOKEN}"}
    assert not result.folder.path.exists(), "the temporary upload folder is removed afterwards"


def test_a_second_publish_reuses_the_repo(run, tmp_path, hub):
    cfg, f = run
    api = HfApi(endpoint=hub.endpoint, token=TOKEN)
    publish(cfg, f["run"], "me/ascii-maps", api=api)
    publish(cfg, f["run"], "me/ascii-maps", api=api)
    assert len(hub.state.commits) == 2


@pytest.mark.parametrize("repo", ["ascii-maps", "me/ascii maps", "me/a/b", "/x", "me/-x-", "me/"])
def test_a_name_the_hub_would_refuse_is_refused_before_anything_is_written(repo, run, tmp_path):
    cfg, f = run
    with pytest.raises(UserError, match="--repo"):
        publish(cfg, f["run"], repo, out=tmp_path / "folder", dry_run=True)
    assert not (tmp_path / "folder").exists()


def test_no_token_is_one_line_and_nothing_is_uploaded(run, tmp_path, monkeypatch):
    cfg, f = run
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    with pytest.raises(UserError, match="no Hugging Face token: set HF_TOKEN"):
        upload(tmp_path, [], "me/ascii-maps", False)


@pytest.mark.parametrize(
    "route, code, words, created",
    [
        ("whoami", 401, "refused the token", 0),
        ("create", 403, "owned by someone else", 0),
        ("commit", 500, "answered 500", 1),
        ("commit", 403, "exists but received no commit", 1),
    ],
)
def test_hub_refusals_are_one_line_that_says_what_the_repo_now_holds(
    run, tmp_path, hub, route, code, words, created
):
    cfg, f = run
    hub.state.fail[route] = code
    with pytest.raises(UserError, match=words) as e:
        publish(cfg, f["run"], "me/ascii-maps", api=HfApi(endpoint=hub.endpoint, token=TOKEN))
    assert "\n" not in str(e.value) and TOKEN not in str(e.value)
    assert len(hub.state.created) == created and not hub.state.commits


def test_a_repo_under_someone_else_s_name_is_refused_before_it_is_created(run, tmp_path, hub):
    cfg, f = run
    with pytest.raises(UserError, match="neither this token's user"):
        publish(cfg, f["run"], "black-forest-labs/ascii-maps", api=HfApi(endpoint=hub.endpoint, token=TOKEN))
    assert not hub.state.created and not hub.state.commits


def test_a_cut_connection_is_a_network_failure_not_a_traceback(run, tmp_path, hub):
    cfg, f = run
    hub.state.drop = "commit"
    with pytest.raises(UserError, match="network failure while trying to upload to me/ascii-maps .*re-run"):
        publish(cfg, f["run"], "me/ascii-maps", api=HfApi(endpoint=hub.endpoint, token=TOKEN))
    assert not hub.state.commits


def test_check_repo_id_accepts_what_the_hub_accepts():
    assert check_repo_id("me/flux-ascii_v1.2") == "me/flux-ascii_v1.2"


# -- the command --------------------------------------------------------------------------------


def test_the_command_says_which_lora_and_lists_what_would_be_uploaded(run, tmp_path, capsys):
    import tomli_w

    from ascii_lora.cli import main

    cfg, f = run
    config = tmp_path / "exp.toml"
    config.write_text(tomli_w.dumps(cfg.model_dump(mode="json", exclude_none=True)))
    code = main(
        [
            "publish",
            "--config",
            str(config),
            "--repo",
            "me/ascii-maps",
            "--dry-run",
            "--out",
            str(tmp_path / "o"),
        ]
    )
    out = capsys.readouterr().out
    assert (
        code == 0 and "(verify's winner)" in out and "dry run: nothing uploaded" in out and "README.md" in out
    )
    code = main(
        ["publish", "--config", str(config), "--repo", "me", "--dry-run", "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert code == 2 and "--repo 'me': give OWNER/NAME" in err and "Traceback" not in err


def test_a_card_the_hub_s_validator_refuses_is_one_line_and_no_commit(run, tmp_path, hub):
    cfg, f = run
    hub.state.fail["card"] = 400
    with pytest.raises(UserError, match="the Hub refused the model card .*license_name.*received no commit"):
        publish(cfg, f["run"], "me/ascii-maps", api=HfApi(endpoint=hub.endpoint, token=TOKEN))
    assert not hub.state.commits
