"""The docs say what the code does: the config reference is generated from the models and may never
drift from them, and the README opens with the two set-up commands CI runs."""

import re
from pathlib import Path

from ascii_lora.config.reference import END, START, reference

ROOT = Path(__file__).resolve().parents[1]
CONFIG_PAGE = ROOT / "docs" / "config.md"


def test_config_reference_page_is_current():
    text = CONFIG_PAGE.read_text()
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == reference(), "run: .venv/bin/python -m ascii_lora.config.reference"


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make dataset" in first_block and "make test" in first_block
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")


def test_readme_is_a_newcomers_page():
    assert len((ROOT / "README.md").read_text().splitlines()) <= 200


def test_every_relative_link_in_the_readme_leads_to_a_file():
    """mkdocs checks the pages' links; the README lies outside docs/, so it is checked here."""
    text = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [t for t in targets if "://" not in t]
    assert relative, "the README links into the docs"
    missing = [t for t in relative if not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"
