"""Optuna studies over the workbench pipelines.

A study is a TOML file (``studies/*.toml``): its name and storage, the sampler and
the pruner, the objectives, a budget, the base trial config and the search space
as dotted paths into that config (``randomizers.lighting.intensity.high``).

- ``spec``: the study file, validated (``load_study_file``); ``metrics``: what can be
  optimized; ``space``: ranges, choices, conditions, define-by-run suggest;
  ``trial_config``: the base config, and a trial's config with its parameters applied;
  ``factories``: samplers and pruners by name; ``storage``: storage URLs.
- ``data``, ``training``, ``measure``: what a trial does (offline episodes, collected or
  re-rendered; the trainer process; the metrics); ``objectives``: the two kinds of trial
  (``pipeline``, ``cem``) and their intermediate values.
- ``early_stop``: early stopping for multi-objective studies (Optuna's pruners are
  single-objective only); ``runner``: the ask/tell loop of a worker, budgets, recovery of
  abandoned trials; ``processes``, ``worker``, ``train_child``: child processes that die
  with their parent.
- ``report`` and ``best``: plots, tables, and the chosen profile and CEM settings.

Only ``workbench.cli.commands.study`` imports this package, and only inside its command
functions.
"""
