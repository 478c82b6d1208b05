"""The simulated robot: the Gymnasium environment, sensor effects, and the scripted policies."""
