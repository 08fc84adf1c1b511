"""`check_positive_number` and `config_from_dict`: the shared checks of config values, and their users."""

import math

import numpy as np
import pytest

from glomo_tf.configs import check_positive_number


@pytest.mark.parametrize("value", [1, 0.5, 1e-9, np.float32(0.1), np.int64(3)])
def test_positive_numbers_pass(value):
    check_positive_number("x", value)


@pytest.mark.parametrize("value", [0, -1.0, math.nan, True, "0.1", None, [1.0]])
def test_everything_else_is_named_in_the_error(value):
    with pytest.raises(ValueError, match=r"`x` must be a number > 0, got"):
        check_positive_number("x", value)


def test_none_only_where_allowed():
    check_positive_number("clip", None, allow_none=True)
    with pytest.raises(ValueError, match=r"`clip` must be a number > 0 or None, got 0"):
        check_positive_number("clip", 0, allow_none=True)


def test_the_users_share_it():
    from glomo_tf.features.elmo_bilm import LSTMCellWithProjection
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    with pytest.raises(ValueError, match=r"`FinetuneConfig.learning_rate` must be a number > 0"):
        FinetuneConfig(learning_rate=math.nan)
    with pytest.raises(ValueError, match=r"`FinetuneConfig.learning_rate` must be a number > 0"):
        FinetuneConfig(learning_rate=True)
    assert FinetuneConfig(learning_rate=np.float64(0.5)).learning_rate == 0.5
    with pytest.raises(ValueError, match=r"`cell_clip` must be a number > 0 or None"):
        LSTMCellWithProjection(4, cell_clip=-1.0)
    assert LSTMCellWithProjection(4, proj_clip=3).proj_clip == 3.0


@pytest.mark.parametrize("name", ["GLoMoConfig", "PretrainConfig", "FinetuneConfig"])
def test_every_config_round_trips_and_refuses_unknown_fields(name):
    import glomo_tf.configs as configs
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    cls = FinetuneConfig if name == "FinetuneConfig" else getattr(configs, name)
    config = cls()
    assert cls.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match=rf"Unknown {name} fields: \['hiden_dim', 'zz'\]"):
        cls.from_dict({**config.to_dict(), "zz": 1, "hiden_dim": 3})


def test_pretrain_configs_written_before_splitting_existed_split_on_punctuation():
    from glomo_tf.configs import PretrainConfig

    values = PretrainConfig().to_dict()
    del values["splitting"]
    assert PretrainConfig.from_dict(values).splitting == "punctuation"
    assert PretrainConfig.from_dict({**values, "splitting": "english"}).splitting == "english"
