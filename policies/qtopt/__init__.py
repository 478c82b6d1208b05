"""QT-Opt's learning core (torch): Q-networks, target networks, Bellman labels, the learner, replay, checkpoints.

May import policies.runtime (the action contract, CEM); never MuJoCo or the workbench."""
