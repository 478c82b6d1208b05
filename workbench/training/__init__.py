"""The QT-Opt training loop (local and Ray backends), collectors beside the learner, run paths."""
