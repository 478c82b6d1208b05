"""Optuna studies over the workbench pipelines.

A study is a TOML file (``studies/*.toml``): its name and storage, the sampler and
the pruner, the objectives, a budget, the base trial config and the search space
as dotted paths into that config (``randomizers.lighting.intensity.high``).

- ``spec``: the study file, validated (``load_study_file``).
- ``space``: the search space: ranges, choices, conditions; define-by-run suggest.
- ``trial_config``: the base config, and a trial's config with its parameters applied.
- ``factories``: samplers and pruners by name; ``storage``: storage URLs.
- ``data``, ``training``, ``measure``: what a trial does (episodes, the trainer
  process, the metrics); ``objectives``: the two kinds of trial (``pipeline``, ``cem``).
- ``early_stop``: early stopping for multi-objective studies (Optuna's pruners are
  single-objective only); ``runner``: the ask/tell loop of one worker; ``worker``:
  the entry point of a worker process.
- ``report`` and ``best``: plots, tables and the chosen profile and CEM settings.

Only ``workbench.commands.study`` imports this package, and only inside its command
functions.
"""
