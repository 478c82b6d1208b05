"""Domain randomization: lighting, texture, object, camera, dynamics and image randomizers.

Each randomizer draws a plain, JSON-able sample from the caller's
`numpy.random.Generator` and applies it to a scene through its named handles;
drawing and applying are separate, so every episode's samples are recorded
and can be replayed. A profile (TOML, validated) composes the randomizers and
their ranges; every parameter has a dotted path.
"""

from randomizers.config import Profile, ProfileError, builtin_profiles, load_profile, parse_profile
from randomizers.episode import ORDER, PHYSICAL, VISUAL, Randomization
from randomizers.paths import diff_profiles, format_profile, get_path, parse_assignment, set_path
from randomizers.rerender import EpisodeRerenderer, rerender_episode

__all__ = [
    "ORDER", "PHYSICAL", "VISUAL", "EpisodeRerenderer", "Profile", "ProfileError", "Randomization",
    "builtin_profiles", "diff_profiles", "format_profile", "get_path", "load_profile", "parse_assignment",
    "parse_profile", "rerender_episode", "set_path",
]
