"""Export of a trained policy as a bundle, the robot driver interface, and driving a bundle."""
