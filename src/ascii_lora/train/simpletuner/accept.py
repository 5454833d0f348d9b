"""Run SimpleTuner's own config loader on a planned run and show every value arrives intact.

Runs with the Python of the SimpleTuner environment (it imports SimpleTuner, never ascii_lora):

    .venv-simpletuner/bin/python src/ascii_lora/train/simpletuner/accept.py runs/flux_ascii

It loads <run>/config.json through ``simpletuner.helpers.configuration.loader.load_config`` (the
JSON -> argv conversion and the argparse parser train.py uses, with its post-parse checks), builds
each multidatabackend.json entry with SimpleTuner's backend config classes and their validate(),
reads user_prompt_library.json with its PromptHandler, and resolves the optimizer the way the
trainer does. A value SimpleTuner dropped, renamed or rewrote is a failure. Exit 0 when all are
intact, 1 otherwise. Pre-flight (``make train`` with trainer simpletuner) runs it too.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

FACTORY_KEYS = {"cache_dir_vae", "default"}


def _same(ours, got) -> bool:
    if isinstance(ours, bool) or isinstance(got, bool):
        return ours is got or ours == got
    if isinstance(ours, (int, float)):
        try:
            return float(got) == float(ours)
        except (TypeError, ValueError):
            return False
    return str(got) == str(ours)


def _check_config(ours: dict, args, problems: list[str], lines: list[str]) -> None:
    """Each key of config.json: a SimpleTuner option, parsed to the value we wrote."""
    from simpletuner.helpers.configuration import cmd_args

    dest = {
        opt.lstrip("-"): a.dest for a in cmd_args.get_argument_parser()._actions for opt in a.option_strings
    }
    for key, value in ours.items():
        if key not in dest:
            problems.append(f"config.json {key}: not a SimpleTuner option")
            continue
        got = getattr(args, dest[key])
        if key == "logging_dir":  # SimpleTuner joins it onto output_dir
            value = os.path.join(ours["output_dir"], value)
        ok = _same(value, got)
        lines.append(f"{'ok  ' if ok else 'FAIL'} {key} = {json.dumps(value)} -> {got!r}")
        if not ok:
            problems.append(f"config.json {key}: ours {value!r}, SimpleTuner parsed {got!r}")


def _check_optimizer(args, lines: list[str]) -> None:
    """The optimizer class SimpleTuner builds from our name."""
    from simpletuner.helpers.training.optimizer_param import optimizer_parameters

    opt_cls, details = optimizer_parameters(args.optimizer, args)
    lines.append(
        f"ok   optimizer {args.optimizer} -> {opt_cls.__module__}.{opt_cls.__name__} {details['default_settings']}"
    )


def _check_backends(args, problems: list[str], lines: list[str]) -> list[dict]:
    """Each entry of multidatabackend.json: validated, every key built as written."""
    from simpletuner.helpers.data_backend.config import create_backend_config

    backends = json.loads(Path(args.data_backend_config).read_text())
    for entry in backends:
        built = create_backend_config(entry, vars(args))
        try:
            built.validate(vars(args))
        except ValueError as e:
            problems.append(f"multidatabackend.json {entry['id']}: {e}")
            continue
        view = {**vars(built), **built.to_dict().get("config", {})}
        view["type"] = built.backend_type
        view["dataset_type"] = built.dataset_type.value
        for key, value in entry.items():
            if key == "id":
                continue
            if (
                key in FACTORY_KEYS
            ):  # not part of the config object: the factory reads them from the entry itself
                lines.append(
                    f"ok   backend {entry['id']}.{key} = {json.dumps(value)} (read from the entry by data_backend/factory.py)"
                )
                continue
            got = view.get(key, "<missing>")
            ok = _same(value, got)
            lines.append(
                f"{'ok  ' if ok else 'FAIL'} backend {entry['id']}.{key} = {json.dumps(value)} -> {got!r}"
            )
            if not ok:
                problems.append(
                    f"multidatabackend.json {entry['id']}.{key}: ours {value!r}, SimpleTuner built {got!r}"
                )
    return backends


def _check_prompts(ours: dict, args, problems: list[str], lines: list[str]) -> int:
    """The validation prompts SimpleTuner reads back; returns how many there are."""
    prompts = 1 if ours.get("validation_prompt") else 0
    if args.user_prompt_library:
        from simpletuner.helpers.prompts import PromptHandler

        library = PromptHandler.load_user_prompts(args.user_prompt_library)
        written = json.loads(Path(ours["user_prompt_library"]).read_text())
        prompts += len(library)
        if library != written:
            problems.append(f"user_prompt_library.json: SimpleTuner read {library!r}")
        lines.append(
            f"{'ok  ' if library == written else 'FAIL'} user_prompt_library: {len(library)} prompts"
        )
    return prompts


def main(argv: list[str]) -> int:
    # run as a file, its folder (ascii_lora/train/simpletuner) heads sys.path: keep its modules from shadowing SimpleTuner's
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if len(argv) != 1:
        print("usage: accept.py RUN_DIR", file=sys.stderr)
        return 2
    run = Path(argv[0]).resolve()
    config_path = run / "config.json"
    ours = json.loads(config_path.read_text())
    os.environ.update(CONFIG_BACKEND="json", CONFIG_PATH=str(config_path))
    os.environ.setdefault("SIMPLETUNER_LOG_LEVEL", "ERROR")

    import importlib.metadata

    from simpletuner.helpers.configuration.loader import load_config

    version = importlib.metadata.version("simpletuner")
    try:
        args = load_config(exit_on_error=True)
    except (ValueError, SystemExit) as e:
        print(f"FAIL SimpleTuner {version} refused {config_path}: {e}")
        return 1
    problems: list[str] = []
    lines: list[str] = []
    _check_config(ours, args, problems, lines)
    _check_optimizer(args, lines)
    backends = _check_backends(args, problems, lines)
    prompts = _check_prompts(ours, args, problems, lines)

    print("\n".join(lines))
    for p in problems:
        print(f"FAIL {p}")
    if problems:
        print(f"SimpleTuner {version}: {len(problems)} value(s) not intact")
        return 1
    print(
        f"SimpleTuner {version} accepted {config_path.name} ({len(ours)} keys), {Path(args.data_backend_config).name} "
        f"({len(backends)} entries), {prompts} validation prompts: every value intact"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
