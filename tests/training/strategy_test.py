import json

import pytest
import tensorflow as tf

from glomo_tf.training.strategy import make_strategy


def test_auto_on_a_cpu_machine_is_the_default_strategy():
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("GPUs are visible")
    assert make_strategy("auto") is tf.distribute.get_strategy()


def test_cpu_strategy_has_one_replica():
    strategy = make_strategy("cpu")
    assert strategy.num_replicas_in_sync == 1
    assert "CPU" in strategy.extended.worker_devices[0].upper()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="gpu"), "Unknown strategy"),
        (dict(name="tpu"), "needs the TPU"),
        (dict(name="cpu", tpu="grpc://1.2.3.4:8470"), "only makes sense"),
    ],
)
def test_bad_arguments_name_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_strategy(**kwargs)


def test_multiworker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        make_strategy("multiworker")
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}))
    with pytest.raises(ValueError, match="not in its cluster"):
        make_strategy("multiworker")
