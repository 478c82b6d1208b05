"""QTOptConfig: defaults, and errors that carry the dotted field path for the CLI."""

import pydantic
import pytest

from policies.qtopt.config import QTOptConfig
from policies.runtime.cem import CEMConfig


def error_locations(data: dict) -> list[str]:
    with pytest.raises(pydantic.ValidationError) as caught:
        QTOptConfig.model_validate(data)
    return [".".join(str(part) for part in error["loc"]) for error in caught.value.errors()]


def test_defaults_follow_the_paper_where_it_applies():
    config = QTOptConfig()
    assert config.gamma == 0.9
    assert config.cem == CEMConfig(iterations=2, samples=64, elites=6)
    assert config.action_spec().max_translation == 0.05


def test_acting_and_bellman_cem_are_separate_settings():
    config = QTOptConfig()
    assert config.act_cem == CEMConfig(iterations=3, samples=256, elites=10)  # acting: one search per action
    assert config.cem == CEMConfig()  # Bellman targets keep the paper's 2 x 64, 6 elites
    changed = QTOptConfig.model_validate({"act_cem": {"samples": 32, "elites": 4}})
    assert changed.act_cem == CEMConfig(iterations=2, samples=32, elites=4) and changed.cem == CEMConfig()


def test_nested_cem_settings_load_from_plain_data():
    config = QTOptConfig.model_validate({"arch": "paper", "cem": {"iterations": 3, "samples": 32, "elites": 4}})
    assert config.cem == CEMConfig(iterations=3, samples=32, elites=4)
    assert QTOptConfig.model_validate(config.model_dump(mode="json")) == config


@pytest.mark.parametrize(
    "data, location",
    [
        ({"arch": "resnet"}, "arch"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"offline_fraction": 1.5}, "offline_fraction"),
        ({"image_size": 8}, "image_size"),
        ({"cem": {"samples": "many"}}, "cem.samples"),
        ({"cem": {"samples": 4, "elites": 6}}, "cem"),
        ({"cem": {"bogus": 1}}, "cem.bogus"),
        ({"act_cem": {"samples": 4, "elites": 6}}, "act_cem"),
        ({"lerning_rate": 1e-3}, "lerning_rate"),
    ],
)
def test_invalid_values_fail_with_the_dotted_field_path(data, location):
    assert location in error_locations(data)
