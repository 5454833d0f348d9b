"""Check emitted argv / dataset TOML against facts extracted from the pinned sd-scripts commit.

A clone without the submodule (and CI) cannot run sd-scripts' parsers, so tools/kohya_facts.py
reads its source and commits their facts to tests/fixtures/sd_scripts_facts.json (with the
commit); these helpers replay what the real parsers would accept. test_kohya_facts.py proves
the fixture still matches the submodule whenever it is checked out.
"""

from __future__ import annotations

import json
from pathlib import Path

FIXTURE = Path(__file__).parent / "fixtures" / "sd_scripts_facts.json"


class KohyaFacts:
    def __init__(self, path: Path = FIXTURE):
        data = json.loads(Path(path).read_text())
        self.commit = data["sd_scripts_commit"]
        self.flags = {opt: f for f in data["flux_train_network_flags"] for opt in f["options"]}
        self.schema = data["dataset_config"]
        self.lora_modules: dict[str, dict[str, int]] = data["lora_flux"]["modules"]
        self.requirements: dict[str, str] = data["requirements"]
        self.image_extensions: list[str] = data["image_extensions"]  # library/train_util.py's image list

    def default(self, dest: str) -> object:
        """What sd-scripts uses when the flag is not given."""
        return next(f["default"] for f in self.flags.values() if f["dest"] == dest)

    # -- argparse ---------------------------------------------------------------------------------
    def parse(self, args: list[str]) -> dict[str, object]:
        """Replay argparse: every flag known, store_true without value, values of the right type/choice."""
        parsed: dict[str, object] = {}
        i = 0
        while i < len(args):
            opt = args[i]
            assert opt.startswith("--"), f"stray value {opt!r} (previous flag takes no value?)"
            assert opt in self.flags, f"{opt} is not a flux_train_network.py flag"
            f = self.flags[opt]
            i += 1
            if f["store_true"]:
                parsed[f["dest"]] = True
                continue
            values = []
            while i < len(args) and not args[i].startswith("--"):
                values.append(args[i])
                i += 1
                if f["nargs"] is None:
                    break
            if f["nargs"] is None:
                assert len(values) == 1, f"{opt} needs exactly one value, got {values}"
            for v in values:
                self._check_value(opt, f, v)
            parsed[f["dest"]] = values if f["nargs"] else values[0]
        return parsed

    @staticmethod
    def _check_value(opt: str, f: dict, v: str) -> None:
        """argparse converts with ``type`` first, then tests membership in ``choices``."""
        t = f["type"]
        if t == "int":
            value: object = int(v)
        elif t == "float":
            value = float(v)
        elif t == "int_or_float":
            value = float(v)
        else:
            value = v
        if f["choices"] is not None:
            assert value in f["choices"], f"{opt} {v!r} not in {f['choices']}"

    # -- dataset config -----------------------------------------------------------------------------
    def check_dataset_toml(self, data: dict) -> None:
        self._check_table("general", data.get("general", {}))
        assert data.get("datasets"), "no [[datasets]]"
        for ds in data["datasets"]:
            subsets = ds.get("subsets", [])
            self._check_table("datasets", {k: v for k, v in ds.items() if k != "subsets"})
            assert subsets, "a dataset without subsets trains on nothing"
            for sub in subsets:
                self._check_table("datasets.subsets", sub)

    def _check_table(self, name: str, table: dict) -> None:
        schema = self.schema[name]
        for key, value in table.items():
            assert key in schema, f"[{name}] {key} is not accepted by sd-scripts' schema"
            self._check_type(f"[{name}] {key}", schema[key]["type"], value)
        for key, spec in schema.items():
            if spec["required"]:
                assert key in table, f"[{name}] misses required {key}"

    @staticmethod
    def _check_type(where: str, type_text: str, value: object) -> None:
        ok = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, float),
            "str": lambda v: isinstance(v, str),
            "bool": lambda v: isinstance(v, bool),
            "dict": lambda v: isinstance(v, dict),
        }
        options = [t.strip() for t in type_text.split("|")]
        for t in options:
            if t in ok and ok[t](value):
                return
            if t.startswith("[") and isinstance(value, list):
                return
        raise AssertionError(f"{where} = {value!r} is not {type_text}")
