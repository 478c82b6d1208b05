"""QT-Opt: the learning core (``policies.qtopt``, torch) and what runs on the robot (``policies.runtime``).

Arrays in, arrays out: nothing here imports MuJoCo, gymnasium or the other workbench packages.
"""
