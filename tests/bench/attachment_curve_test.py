"""bench/attachment_curve.py on a tiny run directory: every checkpoint scored once, kept
across calls, and its bad arguments."""

import json
import re
import shutil

import pytest

from bench import attachment_curve
from tests.evaluation import conllu_samples
from tests.export import tiny_module


def _run_directory(path, steps):
    from glomo_tf.configs import PretrainConfig, save_configs
    from glomo_tf.data.vocabulary import save_vocabulary
    from glomo_tf.training.checkpoints import CheckpointManager

    path.mkdir()
    model = tiny_module.make_model(seed=1)
    model.compile(optimizer="sgd")
    model.optimizer.build(model.trainable_variables)
    save_configs(str(path / "config.json"), model.glomo_config,
                 PretrainConfig(lowercase=True, replace_digits=True))
    save_vocabulary(tiny_module.VOCABULARY, path / "vocab.txt")
    manager = CheckpointManager(str(path / "checkpoints"),
                                fingerprint={"model": model.glomo_config.to_dict()})
    for step, val_loss in steps:
        manager.save(model, step=step, extra_state={"val_loss": val_loss})
    return manager, model


@pytest.mark.slow
def test_scores_each_checkpoint_once_and_keeps_the_curve(tmp_path, capsys, monkeypatch):
    run = tmp_path / "run"
    manager, model = _run_directory(run, [(1, 2.5)])
    treebank = str(conllu_samples.write(tmp_path / "tb.conllu"))
    attachment_curve.main(["--run", str(run), "--treebank", treebank, "--no-write"])
    results = json.loads((run / attachment_curve.RESULTS_FILE).read_text())
    assert sorted(results) == ["0", "1"]  # the untrained predictor and the checkpoint
    assert results["1"]["val_loss"] == 2.5 and results["0"]["val_loss"] is None
    for entry in results.values():
        assert 0.0 <= entry["combined"] <= 1.0 and 0.0 <= entry["live_rows"] <= 1.0
        assert 0.0 <= entry["live_columns"] <= 1.0 and 0.0 <= entry["top1_weight"] <= 1.0
        assert re.fullmatch(r"\d+/\d+", entry["relations_won"])
        assert re.fullmatch(r"\d+/\d+", entry["relations_won_either"])
        assert 0.0 <= entry["head_to_dependent"] <= 1.0
    out = capsys.readouterr().out
    assert "| 0 (untrained) |" in out and "| 1 |" in out

    # A later call scores only the new checkpoint, and keeps step 1 after it was pruned.
    manager.save(model, step=2, extra_state={"val_loss": 2.0})
    shutil.rmtree(dict(manager.checkpoints())[1])
    scored = []
    real = attachment_curve.summarize
    monkeypatch.setattr(attachment_curve, "summarize", lambda r: scored.append(1) or real(r))
    attachment_curve.main(["--run", str(run), "--treebank", treebank, "--no-write"])
    assert scored == [1]
    out = capsys.readouterr().out
    assert "| 1 |" in out and "| 2 |" in out

    # Entries scored before the spread was measured still make a table row.
    stored = json.loads((run / attachment_curve.RESULTS_FILE).read_text())
    del stored["1"]["live_columns"], stored["1"]["top1_weight"]
    (run / attachment_curve.RESULTS_FILE).write_text(json.dumps(stored))
    attachment_curve.main(["--run", str(run), "--treebank", treebank, "--no-write"])
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1 |"))
    assert row.rstrip().endswith("| - | - |")
    assert sorted(json.loads((run / attachment_curve.RESULTS_FILE).read_text())) == ["0", "1", "2"]

    # --every: checkpoints off the grid are left for a call without it.
    manager.save(model, step=3, extra_state={"val_loss": 1.9})
    manager.save(model, step=4, extra_state={"val_loss": 1.8})
    attachment_curve.main(["--run", str(run), "--treebank", treebank, "--no-write",
                           "--every", "2"])
    assert sorted(json.loads((run / attachment_curve.RESULTS_FILE).read_text())) == \
        ["0", "1", "2", "4"]


@pytest.mark.parametrize("make_argv", [
    lambda tmp: ["--run", str(tmp / "missing")],
    lambda tmp: ["--run", str(tmp), "--treebank", str(tmp / "none.conllu")],
])
def test_bad_arguments_exit_2(make_argv, tmp_path, capsys):
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(SystemExit) as exit_info:
        attachment_curve.main(make_argv(tmp_path) + ["--no-write"])
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
