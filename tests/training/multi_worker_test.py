"""`MultiWorkerMirroredStrategy`: two local workers on loopback train like one worker.

Each worker is its own process with its own `TF_CONFIG` (the cluster of both loopback
addresses, its own index), exactly as on N machines. Both run `pretrain` with strategy
`multiworker` and the same global batch; a third process runs the same training on one
worker. The two workers must end with identical weights (all-reduced gradients), and their
losses must match the single worker's.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from tests.training.corpus_fixtures import write_text_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_WORKER = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorflow as tf
    from glomo_tf.training.pretraining import pretrain
    from glomo_tf.training.strategy import make_strategy
    from tests.training.corpus_fixtures import tiny_model_config, tiny_train_config
    corpus, out, name = sys.argv[1:4]
    strategy = make_strategy(name)
    result = pretrain(corpus, out, tiny_model_config(),
                      tiny_train_config(steps=3, batch_size=4, image_every=0, validate_every=3,
                                        checkpoint_every=3),
                      strategy=strategy, progress=False)
    weights = result.model.get_weights()
    print("RESULT " + json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "losses": [result.step_losses[s] for s in sorted(result.step_losses)],
        "weights": [float(np.sum(np.abs(w.astype("float64")))) for w in weights],
        "probe": [float(w.reshape(-1)[0]) for w in weights],
    }))
""")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start(corpus, out, strategy, tf_config=None):
    env = {**os.environ, "PYTHONPATH": REPO, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen([sys.executable, "-c", _WORKER, corpus, str(out), strategy], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _result(process, timeout=600):
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        stdout, stderr = process.communicate()
    assert process.returncode == 0, stderr[-3000:]
    return json.loads([l for l in stdout.splitlines() if l.startswith("RESULT ")][-1][len("RESULT "):])


@pytest.mark.slow
def test_two_local_workers_hold_the_same_weights_and_match_one_worker(tmp_path):
    corpus = write_text_corpus(tmp_path / "corpus.txt")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = [
        _start(corpus, tmp_path / f"worker{i}", "multiworker",
               {"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})
        for i in range(2)
    ]
    single = _start(corpus, tmp_path / "single", "cpu")
    results = [_result(p) for p in processes]
    reference = _result(single)

    assert [r["replicas"] for r in results] == [2, 2] and reference["replicas"] == 1
    # All-reduced updates: the replicas' weights agree to float rounding.
    np.testing.assert_allclose(results[0]["weights"], results[1]["weights"], rtol=1e-6)
    np.testing.assert_allclose(results[0]["probe"], results[1]["probe"], rtol=1e-6, atol=1e-7)
    # Same global batch of 4, split 2 + 2, with synchronized BatchNorm statistics and
    # global-batch token counts: the same maths as one worker up to float rounding; a
    # wrong split or loss scaling (summing the replicas) would be off by 2x.
    assert len(results[0]["losses"]) == len(reference["losses"]) == 3
    np.testing.assert_allclose(results[0]["losses"], reference["losses"], rtol=1e-4)
    # atol: the conv biases before a BatchNorm get a zero gradient up to rounding noise,
    # which Adam turns into ~1e-6 moves of either sign.
    np.testing.assert_allclose(results[0]["weights"], reference["weights"], rtol=1e-4, atol=1e-5)
