"""Q-networks over (image, state, action): two architectures behind one interface.

Interface (both architectures):

- ``encode(image, state) -> features``: the action-independent part, run once per state.
  ``image`` is channel-last, (B, H, W, 3), as observations and replay store it; uint8
  values are divided by 255 here, float values are taken as already in [0, 1].
  ``state`` is (B, 2). ``features`` is a float tensor (B, feature_dim), only meaningful to
  ``score`` of the same network.
- ``score(features, actions) -> logits``: ``actions`` (B, K, 8) -> logits (B, K), so CEM
  scores K candidate actions per state without re-encoding the image.
- ``forward(image, state, action) -> logits``: action (B, 8) -> logits (B,). Q = sigmoid.

Architectures:

- ``paper``: the QT-Opt shape scaled to small images. Convolutions on the image; the
  action and state go through dense layers and are added by broadcast onto the feature
  map mid-network; more convolutions; two dense layers of 64; one logit. ``encode`` is
  the conv prefix, ``score`` runs the merge and everything after on B*K copies of the
  feature map, so CEM costs iterations x samples passes through the second half.
- ``fast``: the image (and state) are encoded once into a vector; the action joins late
  in a small MLP head, so K candidate actions cost one encoding plus K head passes.

Weights are initialised from a torch.Generator seeded from the caller's numpy Generator,
never from torch's global RNG, so a run is reproducible from its seed.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import numpy as np
import torch
from torch import nn

from policies.runtime.spec import ACTION_DIM, DEFAULT_MAX_TRANSLATION, STATE_DIM, TRANSLATION_DIMS

ARCHITECTURES = ("paper", "fast")
MIN_IMAGE_SIZE = 16
# Heights are metres above the bin floor (about 0 to 0.25 in an episode); a tenth of a metre
# becomes one unit, so the height weighs like the other inputs from the first step.
HEIGHT_UNIT = 0.1


def image_to_float(image: torch.Tensor, image_size: int) -> torch.Tensor:
    """Channel-last (B, H, W, 3) uint8 or float image -> channel-first float (B, 3, H, W)."""
    if image.ndim != 4 or image.shape[-1] != 3:
        raise ValueError(f"image must be (B, H, W, 3) channel-last, got shape {tuple(image.shape)}")
    if image.shape[1] != image_size or image.shape[2] != image_size:
        raise ValueError(
            f"image is {image.shape[1]}x{image.shape[2]}, this network was built for "
            f"{image_size}x{image_size}"
        )
    if image.dtype == torch.uint8:
        image = image.float() / 255.0
    else:
        image = image.float()
    return image.permute(0, 3, 1, 2)


class QNetwork(nn.Module, ABC):
    """Shared plumbing: input checks and forward() in terms of encode() and score()."""

    arch: str
    image_size: int
    # Rows (states x candidates) per score() pass in CEM. The paper net runs its second
    # half on every row; on a 2-core CPU, Bellman labelling with passes of 4096 rows (64
    # states x 64 samples) ran at about half the speed of passes of 128 (activations fall
    # out of cache).
    score_chunk_rows = 128

    @abstractmethod
    def encode(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) image and (B, 2) state -> (B, feature_dim) features."""

    @abstractmethod
    def score(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """(B, feature_dim) features and (B, K, 8) actions -> (B, K) logits."""

    def forward(self, image: torch.Tensor, state: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        features = self.encode(image, state)
        return self.score(features, action[:, None, :])[:, 0]

    def _set_input_units(self, max_translation: float) -> None:
        """Scale state and action to about unit range inside the network.

        Translations are metres (+-max_translation, 0.05 by default) beside sin/cos and 0/1
        flags: unscaled, where the hand moves reached the network as inputs 20 times smaller
        than whether it closes, and the trained policy ignored where it moved. Not
        persistent: the scale follows from the config, so checkpoints hold weights only, and
        an ONNX export carries it as a constant.
        """
        if not max_translation > 0:
            raise ValueError(f"max_translation must be positive, got {max_translation!r}")
        self.max_translation = float(max_translation)
        action_scale = torch.ones(ACTION_DIM)
        action_scale[list(TRANSLATION_DIMS)] = 1.0 / max_translation
        self.register_buffer("action_scale", action_scale, persistent=False)
        self.register_buffer("state_scale", torch.tensor([1.0, 1.0 / HEIGHT_UNIT]), persistent=False)

    def _state_input(self, state: torch.Tensor, batch: int) -> torch.Tensor:
        if state.shape != (batch, STATE_DIM):
            raise ValueError(f"state must be (B={batch}, {STATE_DIM}), got {tuple(state.shape)}")
        return state.float() * self.state_scale

    def _action_input(self, actions: torch.Tensor, batch: int) -> torch.Tensor:
        if actions.ndim != 3 or actions.shape[0] != batch or actions.shape[2] != ACTION_DIM:
            raise ValueError(f"actions must be (B={batch}, K, {ACTION_DIM}), got {tuple(actions.shape)}")
        return actions.float() * self.action_scale


def _conv(in_channels: int, out_channels: int, kernel: int, stride: int = 1) -> nn.Conv2d:
    # "same" padding for odd kernels keeps the spatial arithmetic easy to follow.
    return nn.Conv2d(in_channels, out_channels, kernel, stride=stride, padding=kernel // 2)


class PaperQNetwork(QNetwork):
    """QT-Opt shape: conv prefix, action+state merged mid-network by broadcast add, conv suffix.

    At 64x64: 64 -conv s2-> 32 -pool-> 16 -conv, conv-> pool -> 8x8x48 (merge here)
    -> 3 convs -> pool -> 4x4x48 -> dense 64 -> dense 64 -> logit. About 145k parameters.
    """

    arch = "paper"

    def __init__(self, image_size: int, max_translation: float = DEFAULT_MAX_TRANSLATION, channels: int = 48):
        super().__init__()
        self.image_size = image_size
        self._set_input_units(max_translation)
        self.channels = channels
        # Downsample early: full-resolution convolutions dominate the cost on a CPU.
        self.prefix = nn.Sequential(
            _conv(3, 32, 5, stride=2), nn.ReLU(),
            nn.MaxPool2d(2),
            _conv(32, 32, 3), nn.ReLU(),
            _conv(32, channels, 3), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip
        self.map_height = self._prefix_output_size(image_size)
        # Action and gripper state are embedded together, as in the paper.
        self.action_state_embedding = nn.Sequential(
            nn.Linear(ACTION_DIM + STATE_DIM, 64), nn.ReLU(),
            nn.Linear(64, channels),
        )  # fmt: skip
        self.suffix = nn.Sequential(
            nn.ReLU(),
            _conv(channels, channels, 3), nn.ReLU(),
            _conv(channels, channels, 3), nn.ReLU(),
            _conv(channels, channels, 3), nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )  # fmt: skip
        flat = channels * (self.map_height // 2) ** 2
        self.head = nn.Sequential(
            nn.Linear(flat, 64), nn.ReLU(),
            nn.Linear(64, 64), nn.ReLU(),
            nn.Linear(64, 1),
        )  # fmt: skip

    @staticmethod
    def _prefix_output_size(image_size: int) -> int:
        size = math.ceil(image_size / 2) // 2 // 2
        if size < 2:
            raise ValueError(f"image_size {image_size} is too small for the paper architecture")
        return size

    def encode(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        x = image_to_float(image, self.image_size)
        state = self._state_input(state, x.shape[0])
        feature_map = self.prefix(x)
        # Flat features keep one tensor type for both architectures (and for ONNX export).
        return torch.cat([feature_map.flatten(1), state], dim=1)

    def score(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        batch = features.shape[0]
        actions = self._action_input(actions, batch)
        samples = actions.shape[1]
        h = self.map_height
        feature_map = features[:, :-STATE_DIM].reshape(batch, self.channels, h, h)
        state = features[:, -STATE_DIM:]
        # B*K copies: every candidate action runs the whole second half of the network.
        feature_map = feature_map.repeat_interleave(samples, dim=0)
        action_state = torch.cat([actions, state[:, None, :].expand(batch, samples, STATE_DIM)], dim=2)
        embedding = self.action_state_embedding(action_state.reshape(batch * samples, -1))
        merged = feature_map + embedding[:, :, None, None]
        logits = self.head(self.suffix(merged))
        return logits.reshape(batch, samples)


class FastQNetwork(QNetwork):
    """Image and state encoded once to a vector; the action joins late in a small MLP head.

    At 64x64: four stride-2 convs (16, 32, 64, 64 channels) -> 4x4x64 -> dense 128, LayerNorm,
    with the state (130 features); head: dense 64 over [features, action] -> dense 64 -> logit.
    About 200k parameters, almost all in the action-independent encoder.
    """

    arch = "fast"
    score_chunk_rows = 1 << 16  # the head is a small MLP: one pass over all rows is cheapest

    def __init__(self, image_size: int, max_translation: float = DEFAULT_MAX_TRANSLATION, embedding: int = 128,
                 hidden: int = 64):
        super().__init__()
        self.image_size = image_size
        self._set_input_units(max_translation)
        # Strided convolutions, no pooling: on one CPU core the three MaxPool layers of the
        # previous encoder cost a third of its time for the same 4x4 map. 16 channels at full
        # resolution: the first layer dominates the cost.
        self.encoder = nn.Sequential(
            _conv(3, 16, 5, stride=2), nn.ReLU(inplace=True),
            _conv(16, 32, 3, stride=2), nn.ReLU(inplace=True),
            _conv(32, 64, 3, stride=2), nn.ReLU(inplace=True),
            _conv(64, 64, 3, stride=2), nn.ReLU(inplace=True),
            nn.Flatten(),
        )  # fmt: skip
        map_height = image_size
        for _ in range(4):
            map_height = math.ceil(map_height / 2)
        # LayerNorm before the ReLU: with a plain ReLU every embedding unit had died after 8k
        # learner steps (none varied across images; Q unchanged when images were shuffled
        # across states), and the policy grasped blind. With it, 122 of 128 still fired after
        # a 60-minute `bench learn`.
        self.image_embedding = nn.Sequential(
            nn.Linear(64 * map_height**2, embedding), nn.LayerNorm(embedding), nn.ReLU(),
        )  # fmt: skip
        feature_dim = embedding + STATE_DIM
        # First head layer on [features, action], split in two so the feature half is
        # computed once per state and only the action half once per candidate.
        self.head_features = nn.Linear(feature_dim, hidden)
        self.head_action = nn.Linear(ACTION_DIM, hidden, bias=False)
        self.head_rest = nn.Sequential(
            nn.ReLU(),
            nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    def encode(self, image: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        x = image_to_float(image, self.image_size)
        state = self._state_input(state, x.shape[0])
        # Channels-last: oneDNN's convolutions are faster on it (one update of batch 64 took
        # 101 ms instead of 116 ms on one core here).
        x = x.contiguous(memory_format=torch.channels_last)
        return torch.cat([self.image_embedding(self.encoder(x)), state], dim=1)

    def score(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        actions = self._action_input(actions, features.shape[0])
        hidden = self.head_features(features)[:, None, :] + self.head_action(actions)
        return self.head_rest(hidden)[..., 0]


def initialize_weights(net: nn.Module, rng: np.random.Generator) -> None:
    """PyTorch's default Conv/Linear initialisation, drawn from a Generator seeded by ``rng``."""
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**63 - 1)))
    with torch.no_grad():
        for module in net.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
                if module.bias is not None:
                    fan_in = module.weight[0].numel()
                    bound = 1.0 / math.sqrt(fan_in)
                    nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def build_qnet(arch: str, image_size: int, rng: np.random.Generator | None = None,
               max_translation: float = DEFAULT_MAX_TRANSLATION) -> QNetwork:
    """Build a Q-network for square images of ``image_size`` pixels and moves of up to
    ``max_translation`` metres per axis (the config's ``qtopt.max_translation``).

    ``rng`` seeds the weight initialisation; None means a fixed seed (0), so two calls
    without a Generator give identical networks rather than depending on global state.
    """
    if not isinstance(image_size, int) or isinstance(image_size, bool) or image_size < MIN_IMAGE_SIZE:
        raise ValueError(f"image_size must be an integer >= {MIN_IMAGE_SIZE}, got {image_size!r}")
    if arch == "paper":
        net: QNetwork = PaperQNetwork(image_size, max_translation)
    elif arch == "fast":
        net = FastQNetwork(image_size, max_translation)
    else:
        raise ValueError(f"unknown Q-network architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    initialize_weights(net, rng if rng is not None else np.random.default_rng(0))
    return net


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
