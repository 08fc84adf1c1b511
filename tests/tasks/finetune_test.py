"""`finetune` end to end on tiny on-disk data, and `glomo finetune`'s errors."""

import json

import pytest

from glomo_tf.tasks import commands
from glomo_tf.tasks.finetune import finetune
from glomo_tf.tasks.finetune_config import FinetuneConfig

SMALL = {"hidden_dim": 4, "char_filters": 4, "char_dim": 2, "char_width": 3, "max_chars": 8,
         "run_eagerly": True}


@pytest.mark.parametrize("task, transfer", [
    ("sst2", "embeddings"), ("imdb", "uniform"), ("nli", "embeddings"),
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
