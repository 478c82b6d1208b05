"""The domain gap as the policy sees it: image features from the Q-network's own encoder.

``QNetwork.encode(image, state)`` returns the image features with the state appended
as its last STATE_DIM columns (both architectures), and the state never mixes into the
image part. So a neutral state (gripper open, at its start height) is passed and its
columns are dropped: what remains depends on the image alone.
"""

from __future__ import annotations

import numpy as np
import torch

from policies.qtopt.qnet import QNetwork
from policies.runtime.spec import STATE_DIM

NEUTRAL_STATE = (0.0, 0.22)  # gripper open, fingertips at the scene's start height (m)


def encoder_features(qnet: QNetwork, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """(N, H, W, 3) uint8 images -> (N, D) float64 image features of ``qnet``'s encoder."""
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise ValueError(f"images must be (N, H, W, 3) uint8, got {images.dtype} {images.shape}")
    torch.set_num_threads(1)  # small nets on a 2-core machine: one thread is fastest
    qnet.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            batch = torch.from_numpy(np.ascontiguousarray(images[start:start + batch_size]))
            state = torch.tensor(NEUTRAL_STATE, dtype=torch.float32).expand(len(batch), STATE_DIM)
            chunks.append(qnet.encode(batch, state)[:, :-STATE_DIM].double().numpy())
    return np.concatenate(chunks)


def q_values(qnet: QNetwork, images: np.ndarray, states: np.ndarray, actions: np.ndarray,
             batch_size: int = 256) -> np.ndarray:
    """Q = sigmoid(logit) at the given (image, state, action) triples, float64 (N,)."""
    torch.set_num_threads(1)
    qnet.eval()
    chunks = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            stop = start + batch_size
            logits = qnet(torch.from_numpy(np.ascontiguousarray(images[start:stop])),
                          torch.from_numpy(np.ascontiguousarray(states[start:stop], dtype=np.float32)),
                          torch.from_numpy(np.ascontiguousarray(actions[start:stop], dtype=np.float32)))
            chunks.append(torch.sigmoid(logits).double().numpy())
    return np.concatenate(chunks)
