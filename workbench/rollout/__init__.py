"""Acting in the environment: collection of episodes, the QT-Opt acting policy, evaluation episodes."""
