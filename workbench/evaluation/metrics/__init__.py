"""Transfer metrics: how far a target domain (real images, or a stand-in) is from simulation.

- ``kid``: kernel inception distance on the Q-network's own image features, with a
  bootstrap interval.
- ``domain_classifier``: held-out accuracy of a classifier telling simulation from real.
- ``image_stats``: per-channel histograms, brightness, contrast, sharpness.
- ``opc``: off-policy classification on labelled episodes (ROC AUC, SoftOPC, calibration).
- ``features``: the Q-network's encoder features of a batch of images.
- ``transfer``: all of the above for one policy and one target data set.
"""
