"""README's config reference is generated from the models: it may never drift from them."""

from pathlib import Path

from ascii_lora.config.reference import END, START, reference

ROOT = Path(__file__).resolve().parents[1]


def test_readme_config_reference_is_current():
    text = (ROOT / "README.md").read_text()
    block = text[text.index(START) : text.index(END) + len(END)]
    assert block == reference(), "run: python -m ascii_lora.config.reference"


def test_readme_opens_with_the_two_setup_commands():
    text = (ROOT / "README.md").read_text()
    first_block = text.split("```sh", 1)[1].split("```", 1)[0]
    assert "make dataset" in first_block and "make test" in first_block
    assert (ROOT / ".ci" / "run").read_text().strip().endswith("make test")
