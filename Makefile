# Every target builds the project's virtual environment first (from pyproject.toml), so a fresh
# clone needs nothing but Python 3.11+ and make.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CONFIG ?= configs/flux_ascii.toml
# TRAINER=simpletuner (or kohya) overrides [trainer] kind for plan, train, setup-train and check.
TRAINER ?=
TRAINER_ARG := $(if $(TRAINER),--trainer $(TRAINER))
STAMP := $(VENV)/.installed

.PHONY: venv dataset test bench validate preview clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

dataset: $(STAMP)
	$(BIN)/ascii-lora dataset --config $(CONFIG)

validate: $(STAMP)
	$(BIN)/ascii-lora validate --config $(CONFIG)

preview: $(STAMP)
	$(BIN)/ascii-lora preview --config $(CONFIG)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m ascii_lora.bench --config $(CONFIG)

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis .mypy_cache .ruff_cache

# The docs site (mkdocs.yml, strict: a broken link or anchor fails) into build/site. CI runs it.
# No --quiet: it hides the warnings that strict mode counts, and a broken link would pass.
.PHONY: docs lint
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --clean

# Lint, format check and types (settings in pyproject.toml); all three run, any failure fails.
# CI runs it first (.ci/run).
lint: $(STAMP)
	@rc=0; \
	$(BIN)/ruff check src tests tools || rc=1; \
	$(BIN)/ruff format --check src tests tools || rc=1; \
	$(BIN)/mypy || rc=1; \
	exit $$rc

.PHONY: plan train stop setup-train check

plan: $(STAMP)
	$(BIN)/ascii-lora plan --config $(CONFIG) $(TRAINER_ARG)

# RESUME=1 continues from the newest saved state.
train: $(STAMP)
	$(BIN)/ascii-lora train --config $(CONFIG) $(TRAINER_ARG)

# Ask the running `make train` to stop right after its next saved state: nothing is lost.
stop: $(STAMP)
	$(BIN)/ascii-lora stop --config $(CONFIG) $(TRAINER_ARG)

setup-train: $(STAMP)
	$(BIN)/ascii-lora setup-train --config $(CONFIG) $(TRAINER_ARG)

# Scores the configured run's samples; overlays, read-back ASCII, report.json/.md land in <run>/check.
check: $(STAMP)
	$(BIN)/ascii-lora check --config $(CONFIG) $(TRAINER_ARG)

# Re-reads the pinned vendor/sd-scripts (git submodule update --init vendor/sd-scripts) into the
# fixture the tests use in place of the trainer; review the diff before committing it.
.PHONY: facts
facts: $(STAMP)
	$(BIN)/python tools/kohya_facts.py --sd-scripts vendor/sd-scripts --out tests/fixtures/sd_scripts_facts.json

# Mutation score of the core modules (mutmut), each against its own tests; hours for all of
# them on a small box, so name some: make mutation MODULES="captions ranking". Not part of test.
.PHONY: mutation
mutation: $(STAMP)
	nice -n 10 $(BIN)/python tools/mutation.py $(MODULES)

.PHONY: verify
# Draws every saved LoRA of the run (and the base model) x [sample] prompts x [verify] seeds, scores
# and ranks them; resumable. Report: <run>/verify/report.md. CUDA only (a dry run works anywhere).
verify: $(STAMP)
	$(BIN)/ascii-lora verify --config $(CONFIG)

# The real sd-scripts trains this plan on the CPU with tiny random stand-ins: interrupt, resume,
# refusal, inspect, check (docs/rehearsal.md). Builds .venv-train itself
# (torch, sd-scripts' requirements, no model download) and needs vendor/sd-scripts at the pin.
# Not part of `make test`. TRAIN_VENV= picks another env.
.PHONY: rehearse
TRAIN_VENV ?= .venv-train

# PHASES=multi: only the 2-process and 2-machine phases (docs/multi-gpu.md).
PHASES ?= all
rehearse: $(STAMP)
	$(BIN)/ascii-lora rehearse --config $(CONFIG) --train-venv $(TRAIN_VENV) --phases $(PHASES)

# Shares the LoRA (verify's winner unless LORA=) on the Hugging Face Hub with a model card that quotes
# the measured pass rates; DRY_RUN=1 writes the folder (<run>/publish) and uploads nothing.
# Token: HF_TOKEN or `hf auth login`. Example: make publish REPO=you/ascii-maps DRY_RUN=1
.PHONY: publish
REPO ?=
publish: $(STAMP)
	@test -n "$(REPO)" || { echo "make publish: give REPO=OWNER/NAME (the Hub model repo)"; exit 2; }
	$(BIN)/ascii-lora publish --config $(CONFIG) --repo $(REPO) $(if $(LORA),--lora $(LORA)) $(if $(DRY_RUN),--dry-run) $(if $(PRIVATE),--private)
