"""`finetune` end to end on tiny on-disk data, and `glomo finetune`'s errors."""

import json

import numpy as np

import pytest

from glomo_tf.tasks import commands
from glomo_tf.tasks.finetune import finetune
from glomo_tf.tasks.finetune_config import FinetuneConfig

SMALL = {"hidden_dim": 4, "char_filters": 4, "char_dim": 2, "char_width": 3, "max_chars": 8,
         "run_eagerly": True}


@pytest.mark.parametrize("task, transfer", [
    ("sst2", "embeddings"), ("sst2", "rnn"), ("imdb", "uniform"), ("nli", "embeddings"),
    pytest.param("squad", "rnn", marks=pytest.mark.slow)])
def test_finetune_end_to_end(task, transfer, graphs_layer, glove_file, data_root, tmp_path):
    metrics = finetune(task, "glove", transfer, graphs_layer, epochs=1, batch_size=4,
                       max_examples=8, max_eval=8, seed=1, out_dir=str(tmp_path),
                       data_dir=data_root, glove=glove_file, max_tokens=12, **SMALL)
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written == json.loads(json.dumps(metrics))
    assert metrics["task"] == task and metrics["transfer"] == transfer
    assert metrics["train_examples"] > 0 and metrics["eval_examples"] > 0
    if task == "squad":
        assert 0 <= metrics["f1"] <= 100 and 0 <= metrics["exact_match"] <= 100
        assert "train_loader_no_valid_answer" in metrics["skipped"] \
            or metrics["eval_examples"] <= 8
    else:
        assert 0 <= metrics["accuracy"] <= 100
    if task == "imdb":   # the over-long review (and the empty one, if drawn) are counted
        assert metrics["skipped"].get("train_truncated", 0) \
            + metrics["skipped"].get("eval_truncated", 0) > 0
    if task == "nli":
        assert "validation_accuracy" in metrics
        assert metrics["skipped"]["validation_loader_bad_label"] == 2


@pytest.mark.slow
def test_finetune_is_deterministic_per_seed(graphs_layer, glove_file, data_root):
    runs = [finetune("sst2", graphs_module=graphs_layer, features="glove",
                     transfer="embeddings", epochs=1, batch_size=4, seed=3, max_eval=4,
                     data_dir=data_root, glove=glove_file, **SMALL) for _ in range(2)]
    assert runs[0]["train_loss"] == runs[1]["train_loss"]
    assert runs[0]["accuracy"] == runs[1]["accuracy"]
    assert runs[0]["skipped"] == {"train_loader_bad_label": 1, "train_loader_empty": 1,
                                  "train_all_unknown": 1}


def test_config_validation(tmp_path):
    with pytest.raises(ValueError, match="transfer"):
        FinetuneConfig(transfer="graphs")
    with pytest.raises(ValueError, match="elmo"):
        FinetuneConfig(features="elmo")
    with pytest.raises(ValueError, match="length_buckets"):
        FinetuneConfig(length_buckets=-1)
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"hidden_dim": 3, "nope": 1}))
    with pytest.raises(ValueError, match="nope"):
        FinetuneConfig.from_json(path)
    config = FinetuneConfig(hidden_dim=3)
    assert FinetuneConfig.from_dict(config.to_dict()) == config


def _cli(argv, capsys):
    try:
        status = commands.main(argv)
    except SystemExit as e:
        status = e.code
    return status, capsys.readouterr()


def test_cli_errors_are_one_line(tmp_path, capsys, graph_module_dir):
    status, out = _cli(["finetune", "--task", "mnist", "--graphs", graph_module_dir], capsys)
    assert status == 2 and len(out.err.strip().splitlines()) == 1 and "mnist" in out.err
    status, out = _cli(["finetune", "--task", "sst2", "--graphs", str(tmp_path / "nope")],
                       capsys)
    assert status == 2 and out.err.strip().splitlines() == [
        f"glomo finetune: error: graph module not found: {str(tmp_path / 'nope')!r}"]
    # A control character in the path stays escaped inside the one line.
    status, out = _cli(["finetune", "--task", "sst2", "--graphs", "\r0"], capsys)
    assert status == 2 and out.err.strip().splitlines() == [
        "glomo finetune: error: graph module not found: '\\r0'"]
    status, out = _cli(["finetune", "--task", "sst2", "--graphs", graph_module_dir,
                        "--config", str(tmp_path / "missing.json")], capsys)
    assert status == 2 and len(out.err.strip().splitlines()) == 1 and "missing.json" in out.err
    status, out = _cli(["finetune", "--task", "sst2", "--graphs", graph_module_dir,
                        "--data-dir", str(tmp_path)], capsys)
    assert status == 2 and len(out.err.strip().splitlines()) == 1


def test_cli_refuses_a_corrupt_resume_state_in_one_line(tmp_path, capsys, graph_module_dir,
                                                        glove_file, data_root):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL))
    state = tmp_path / "resume"
    state.mkdir()
    (state / "state.json").write_text("{half a state")
    status, out = _cli(["finetune", "--task", "sst2", "--transfer", "uniform", "--graphs",
                        graph_module_dir, "--glove", glove_file, "--config", str(config),
                        "--data-dir", data_root, "--epochs", "1", "--quiet",
                        "--resume-dir", str(state)], capsys)
    lines = out.err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "unreadable" in lines[0] and "Delete" in lines[0]


def test_cli_runs_and_writes_json(tmp_path, capsys, graph_module_dir, glove_file, data_root):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL))
    status, out = _cli(["finetune", "--task", "sst2", "--transfer", "uniform", "--graphs",
                        graph_module_dir, "--glove", glove_file, "--batch-size", "8",
                        "--config", str(config), "--data-dir", data_root,
                        "--out", str(tmp_path / "run")], capsys)
    assert status == 0, out.err
    printed = json.loads(out.out)
    assert printed["transfer"] == "uniform"
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["accuracy"] == printed["accuracy"] and saved["config"]["batch_size"] == 8


# ----------------------------------------------------- validation, callbacks, cache
def _rebuild(metrics, graphs_layer, data_root, cache_dir):
    """The run's model rebuilt from its config, and its test dataset (reusing the caches)."""
    from glomo_tf.tasks import finetune as steps
    from glomo_tf.tasks.token_features import token_features

    config = steps.resolve_config(metrics["config"])
    graphs, module, source = steps.load_graphs(config, graphs_layer)
    data = steps.prepare_data(config, module, data_root)
    caches, summary = steps.graph_caches(config, source, data, cache_dir)
    layer, _ = token_features(config, data.vocabulary)
    model = steps.build_model(config, graphs, layer,
                              "module" if caches is None else "cached")
    return model, steps.datasets(config, data, caches)[2], summary


def test_test_score_is_the_best_validation_models(graphs_layer, glove_file, data_root,
                                                  tmp_path):
    out = tmp_path / "run"
    metrics = finetune("sst2", "glove", "embeddings", graphs_layer, epochs=4, batch_size=4,
                       seed=2, out_dir=str(out), data_dir=data_root, glove=glove_file,
                       stopping="early_stopping", patience=1, learning_rate=0.05, **SMALL)
    # SST-2's dev set is the test set: validation is held out of train (10%, at least 1).
    assert metrics["validation_examples"] >= 1
    # 17 labelled rows from the loader, one all-unknown ("?!") skipped after the split.
    assert metrics["train_examples"] + metrics["validation_examples"] == 16
    assert 1 <= metrics["best_epoch"] <= metrics["epochs_run"] <= 4
    assert 0 <= metrics["validation_accuracy"] <= 100
    assert (out / "best.weights.h5").is_file() and (out / "tensorboard").is_dir()
    assert json.loads((out / "config.json").read_text())["stopping"] == "early_stopping"
    assert all(v["built"] for v in metrics["graph_cache"].values())
    assert metrics["glove"] == "glove.tiny.txt" and metrics["glove_dim"] == 6
    model, test, summary = _rebuild(metrics, graphs_layer, data_root, str(out / "graph_cache"))
    assert not any(v["built"] for v in summary.values())  # the run's caches are reused
    model.load_weights(str(out / "best.weights.h5"))
    from glomo_tf.tasks.finetune import accuracy

    assert accuracy(model, test) == metrics["accuracy"]


# The second: IMDB's GLoMo rows, dense graphs of the untrained twin inside the model.
@pytest.mark.parametrize("transfer,extra", [
    ("uniform", {}), ("embeddings", {"graph_cache": False, "graphs_untrained": True})])
def test_a_killed_run_resumes_from_its_last_epoch(transfer, extra, graphs_layer, glove_file,
                                                  data_root, tmp_path, monkeypatch):
    import keras

    from glomo_tf.tasks import finetune as steps

    class Killed(Exception):
        pass

    class KillAfterSecondEpoch(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                raise Killed()

    state = tmp_path / "resume"
    run = dict(epochs=3, batch_size=4, seed=1, data_dir=data_root, glove=glove_file,
               stopping="early_stopping", patience=5, resume_dir=str(state), **extra, **SMALL)
    real = steps.make_callbacks
    monkeypatch.setattr(steps, "make_callbacks", lambda *a, **k: (
        lambda made: (made[0] + [KillAfterSecondEpoch()], made[1]))(real(*a, **k)))
    with pytest.raises(Killed):
        finetune("sst2", "glove", transfer, graphs_layer, **run)
    saved = json.loads((state / "state.json").read_text())
    assert saved["epoch"] == 1 and len(saved["history"]["loss"]) == 1
    monkeypatch.setattr(steps, "make_callbacks", real)
    with pytest.raises(ValueError, match="another run"):           # other settings
        finetune("sst2", "glove", transfer, graphs_layer, **dict(run, seed=2))
    metrics = finetune("sst2", "glove", transfer, graphs_layer, **run)
    assert metrics["resumed_at_epochs"] == [1] and metrics["epochs_run"] == 3
    assert 1 <= metrics["best_epoch"] <= 3 and 0 <= metrics["accuracy"] <= 100
    assert not state.exists()                                         # done: state deleted
    fresh = finetune("sst2", "glove", transfer, graphs_layer, **run)
    assert fresh["resumed_at_epochs"] == [] and fresh["epochs_run"] == 3


@pytest.mark.parametrize("untrained", [False, True])
@pytest.mark.parametrize("graph_inputs", ["cached", "propagated"])
def test_cached_graphs_give_the_dense_paths_predictions(graph_inputs, untrained, graphs_layer,
                                                        glove_file, data_root, tmp_path):
    import keras

    from glomo_tf.tasks import finetune as steps
    from glomo_tf.tasks.token_features import token_features

    outputs = {}
    for inputs in (graph_inputs, "module"):
        config = steps.resolve_config(task="nli", transfer="embeddings", glove=glove_file,
                                      graph_cache=inputs != "module",
                                      propagated_cache=inputs == "propagated",
                                      graph_cache_dir=str(tmp_path),
                                      graphs_untrained=untrained, untrained_seed=2,
                                      batch_size=3, **SMALL)
        graphs, module, source = steps.load_graphs(config, graphs_layer)
        data = steps.prepare_data(config, module, data_root)
        features = token_features(config, data.vocabulary)[0]
        caches, _ = steps.graph_caches(config, source, data, str(tmp_path), features=features)
        assert (caches is not None) == (inputs != "module")
        keras.utils.set_random_seed(0)
        model = steps.build_model(config, graphs, features, inputs)
        if inputs != "module":
            weights = model.get_weights()
        else:
            model.set_weights(weights)
        # Propagated caches hold the training and validation splits only.
        split = steps.datasets(config, data, caches)[1]
        outputs[inputs] = np.concatenate(
            [np.asarray(model.predict_on_batch(x)) for x, _ in split])
    # float16 candidates: within their rounding of the dense path's logits.
    tolerance = 1e-3 if graph_inputs == "propagated" else 1e-6
    np.testing.assert_allclose(outputs[graph_inputs], outputs["module"], rtol=tolerance,
                               atol=tolerance)


def test_propagated_cache_run_scores_the_test_set_with_the_same_weights(
        graphs_layer, glove_file, data_root, tmp_path):
    from glomo_tf.tasks import finetune as steps
    from glomo_tf.tasks.finetune import accuracy
    from glomo_tf.tasks.token_features import token_features

    out = tmp_path / "run"
    metrics = finetune("imdb", "glove", "embeddings", graphs_layer, epochs=2, batch_size=4,
                       seed=1, out_dir=str(out), data_dir=data_root, glove=glove_file,
                       propagated_cache=True, graphs_untrained=True, max_tokens=12, **SMALL)
    assert sorted(metrics["graph_cache"]) == ["train_text", "validation_text"]
    assert all(v["kind"] == "propagated" and v["built"] for v in metrics["graph_cache"].values())
    # The best weights, in a model computing the untrained twin's graphs itself, score the
    # test set as the run reported.
    config = steps.resolve_config(metrics["config"], propagated_cache=False, graph_cache=False)
    graphs, module, _ = steps.load_graphs(config, graphs_layer)
    data = steps.prepare_data(config, module, data_root)
    model = steps.build_model(config, graphs, token_features(config, data.vocabulary)[0])
    model.load_weights(str(out / "best.weights.h5"))
    assert accuracy(model, steps.datasets(config, data, None)[2]) == metrics["accuracy"]
    with pytest.raises(ValueError, match="propagated_cache needs transfer='embeddings'"):
        FinetuneConfig(task="imdb", transfer="rnn", propagated_cache=True)
    with pytest.raises(ValueError, match="propagated_cache needs"):
        FinetuneConfig(task="squad", transfer="embeddings", propagated_cache=True)


def test_dense_untrained_graphs_load_the_module_once(graph_module_dir, monkeypatch):
    from glomo_tf.tasks import finetune as steps
    from glomo_tf.transfer import glomo_graphs

    loads = []
    real_load = glomo_graphs.load_graph_module
    monkeypatch.setattr(glomo_graphs, "load_graph_module",
                        lambda path: loads.append(path) or real_load(path))
    steps._untrained_graphs_layer.cache_clear()
    steps._graphs_layer.cache_clear()
    config = steps.resolve_config(task="sst2", transfer="embeddings", graph_cache=False,
                                  graphs_untrained=True, untrained_seed=5, **SMALL)
    graphs, module, source = steps.load_graphs(config, graph_module_dir)
    assert len(loads) == 1
    assert graphs.seed == 5 and source is graphs.source and module is graphs._graph_module
    steps._untrained_graphs_layer.cache_clear()


def test_dense_untrained_graphs_of_a_given_layer_reuse_its_module(graphs_layer, monkeypatch):
    from glomo_tf.tasks import finetune as steps
    from glomo_tf.transfer import glomo_graphs

    monkeypatch.setattr(glomo_graphs, "load_graph_module",
                        lambda path: pytest.fail(f"module loaded again from {path}"))
    steps._untrained_graphs_layer.cache_clear()
    config = steps.resolve_config(task="sst2", transfer="embeddings", graph_cache=False,
                                  graphs_untrained=True, untrained_seed=3, **SMALL)
    graphs, module, source = steps.load_graphs(config, graphs_layer)
    assert module is graphs_layer._graph_module and graphs.seed == 3 and source is graphs.source
    assert graphs.handle == graphs_layer.handle
    steps._untrained_graphs_layer.cache_clear()


def test_untrained_predictor_ablation(graphs_layer, glove_file, data_root, tmp_path):
    metrics = finetune("sst2", "glove", "rnn", graphs_layer, epochs=1, batch_size=4,
                       max_eval=4, data_dir=data_root, glove=glove_file, graphs_untrained=True,
                       graph_cache_dir=str(tmp_path), stopping="halve_lr", **SMALL)
    assert metrics["graphs_untrained"] is True and 0 <= metrics["accuracy"] <= 100
    manifests = [json.loads(p.read_text()) for p in tmp_path.glob("*/manifest.json")]
    assert manifests and all(m["module"]["untrained_seed"] == 0 for m in manifests)
    with pytest.raises(ValueError, match="GLoMo transfer"):
        FinetuneConfig(transfer="uniform", graphs_untrained=True)


def test_preset_and_new_flags(tmp_path, capsys, graph_module_dir, glove_file, data_root):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL))
    status, out = _cli(["finetune", "--task", "sst2", "--transfer", "embeddings", "--graphs",
                        graph_module_dir, "--glove", glove_file, "--preset", "released-squad",
                        "--config", str(config), "--data-dir", data_root, "--patience", "2",
                        "--graph-top-k", "4", "--length-buckets", "2", "--out", str(tmp_path / "run")], capsys)
    assert status == 0, out.err
    printed = json.loads(out.out)          # stdout: the metrics only; progress on stderr
    assert printed["validation_accuracy"] >= 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (saved["optimizer"], saved["learning_rate"], saved["stopping"]) == \
        ("adadelta", 0.5, "halve_lr")
    assert saved["hidden_dim"] == SMALL["hidden_dim"]   # the config file beats the preset
    assert (saved["patience"], saved["graph_top_k"], saved["length_buckets"]) == (2, 4, 2)
    assert FinetuneConfig.preset("released-squad").hidden_dim == 76
    with pytest.raises(ValueError, match="preset"):
        FinetuneConfig.preset("nope")


def test_cache_of_another_module_is_refused_in_one_line(tmp_path, capsys, graph_module_dir,
                                                         glove_file, data_root):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL))
    argv = ["finetune", "--task", "sst2", "--transfer", "embeddings", "--graphs",
            graph_module_dir, "--glove", glove_file, "--config", str(config), "--data-dir",
            data_root, "--graph-cache-dir", str(tmp_path / "cache"), "--quiet"]
    status, out = _cli(argv, capsys)
    assert status == 0, out.err
    manifest = next((tmp_path / "cache").glob("sst2-train-*/manifest.json"))
    values = json.loads(manifest.read_text())
    values["module"]["variables_sha256"] = "f" * 64
    manifest.write_text(json.dumps(values))
    status, out = _cli(argv, capsys)
    lines = out.err.strip().splitlines()
    assert status == 2 and len(lines) == 1, out.err
    assert "another module" in lines[0] and "ffffffffffff" in lines[0]


def test_a_renamed_copy_of_the_module_reuses_its_caches(tmp_path, graph_module_dir,
                                                       glove_file, data_root):
    import shutil

    from glomo_tf.tasks.finetune import finetune

    renamed = tmp_path / "renamed_module"
    shutil.copytree(graph_module_dir, renamed)
    built = {}
    for module in (graph_module_dir, str(renamed)):
        metrics = finetune("sst2", "glove", "embeddings", module, epochs=1, batch_size=4,
                           max_eval=4, data_dir=data_root, glove=glove_file,
                           graph_cache_dir=str(tmp_path / "cache"), **SMALL)
        built[module] = [c["built"] for c in metrics["graph_cache"].values()]
    assert all(built[graph_module_dir]) and not any(built[str(renamed)])
    assert len(list((tmp_path / "cache").glob("*/manifest.json"))) == len(built[graph_module_dir])


def test_cli_propagated_cache(tmp_path, capsys, graph_module_dir, glove_file, data_root):
    config = tmp_path / "config.json"
    config.write_text(json.dumps(SMALL))
    base = ["finetune", "--task", "sst2", "--graphs", graph_module_dir, "--glove", glove_file,
            "--config", str(config), "--data-dir", data_root, "--propagated-cache"]
    status, out = _cli(base + ["--transfer", "embeddings", "--out", str(tmp_path / "run")],
                       capsys)
    assert status == 0, out.err
    assert json.loads(out.out)["graph_cache"]["train_text"]["kind"] == "propagated"
    assert json.loads((tmp_path / "run" / "config.json").read_text())["propagated_cache"]
    status, out = _cli(base + ["--transfer", "rnn"], capsys)
    assert status == 2 and out.err.count("\n") == 1
    assert "propagated_cache needs transfer='embeddings'" in out.err
