"""What runs on the robot (numpy and onnxruntime only): the action and observation contract, CEM,
the exported bundle, the runtime policy, safety limits, the wire protocol, server and client.

Imports nothing of torch, MuJoCo, dm_control or policies.qtopt (import-linter checks it)."""
