"""The experiment: user TOML in, validated pydantic models out (the only place defaults live).

Enters: a TOML file and command-line overrides. Leaves: ``ExperimentConfig`` and its tables.
Imports no other stage (grid, dataset, train, check, cli); every stage imports it.
"""
