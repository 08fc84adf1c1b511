import hashlib
import json
import os
import subprocess
import sys

import pytest

from glomo_tf.cli import main
from tests.training.corpus_fixtures import write_text_corpus

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def corpus(tmp_path):
    return write_text_corpus(tmp_path / "corpus.txt", documents=10)


def _error(capsys, argv):
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("glomo pretrain: error:")
    assert "Traceback" not in err
    return lines[0]


def _fake_checkpoint(out_dir, fingerprint):
    path = out_dir / "checkpoints" / "ckpt-00000010"
    path.mkdir(parents=True)
    sums = {}
    for name in ("model.h5", "optimizer.h5"):
        (path / name).write_bytes(name.encode())
        sums[name] = hashlib.sha256(name.encode()).hexdigest()
    (path / "state.json").write_text(json.dumps({"step": 10, "fingerprint": fingerprint, "sha256": sums}))
    (out_dir / "vocab.txt").write_text("<unk>\nthe\ncat\n")


def test_help_lists_commands_and_flags(capsys):
    assert main(["--help"]) == 0
    assert "pretrain" in capsys.readouterr().out
    assert main(["pretrain", "--help"]) == 0
    text = capsys.readouterr().out
    for flag in ("--corpus", "--config", "--steps", "--out", "--resume", "--strategy", "--tpu", "--batch-size",
                 "--lr", "--optimizer", "--seed", "--checkpoint-every", "--validate-every", "--max-vocab",
                 "--validation-corpus"):
        assert flag in text


def test_no_command_prints_help_and_fails(capsys):
    assert main([]) == 2
    assert "usage: glomo" in capsys.readouterr().err


def test_argparse_errors_are_one_line(capsys, tmp_path):
    line = _error(capsys, ["pretrain", "--corpus", "synthetic", "--out", str(tmp_path), "--steps", "0"])
    assert "--steps" in line


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--corpus", "MISSING"], "does not exist"),
        (["--corpus", "EMPTY"], "is empty"),
        (["--corpus", "CORPUS", "--sequence-length", "1"], "--sequence-length must be >= 2"),
        (["--corpus", "CORPUS", "--config", "BADJSON"], "not valid JSON"),
        (["--corpus", "CORPUS", "--config", "huge"], "Unknown config 'huge'"),
        (["--corpus", "CORPUS", "--max-vocab", "1"], "Vocabulary too small"),
        (["--corpus", "CORPUS", "--resume"], "no checkpoint to resume"),
        (["--corpus", "CORPUS", "--strategy", "tpu"], "needs --tpu"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, tmp_path, corpus, extra, message):
    (tmp_path / "empty.txt").write_text("\n\n")
    (tmp_path / "bad.json").write_text("{model")
    replace = {"MISSING": str(tmp_path / "missing.txt"), "EMPTY": str(tmp_path / "empty.txt"),
               "CORPUS": corpus, "BADJSON": str(tmp_path / "bad.json")}
    argv = ["pretrain", "--out", str(tmp_path / "run")] + [replace.get(a, a) for a in extra]
    assert message in _error(capsys, argv)


def test_vocabulary_too_small_from_the_corpus(capsys, tmp_path):
    one_word = tmp_path / "one.txt"
    one_word.write_text("word word\nword\n")
    line = _error(capsys, ["pretrain", "--corpus", str(one_word), "--out", str(tmp_path / "run"), "--quiet"])
    assert "Vocabulary too small" in line


def test_out_holding_another_models_checkpoint(capsys, tmp_path, corpus):
    out = tmp_path / "run"
    _fake_checkpoint(out, {"model": {"hidden_dim": 512}, "vocabulary_sha256": "0"})
    for resume in ([], ["--resume"]):
        line = _error(capsys, ["pretrain", "--corpus", corpus, "--out", str(out), "--quiet"] + resume)
        assert "another model" in line


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["pretrain", "--corpus", str(tmp_path / "missing"), "--out", str(tmp_path), "--debug"])


@pytest.mark.slow
def test_python_dash_m_runs_a_short_pretraining(tmp_path, corpus):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "glomo_tf", "pretrain", "--corpus", corpus, "--config", "tiny", "--steps", "2",
            "--out", str(out), "--batch-size", "4", "--sequence-length", "12", "--validate-every", "2",
            "--checkpoint-every", "2", "--validation-steps", "1", "--image-every", "0", "--quiet"]
    env = {**os.environ, "PYTHONPATH": REPO}
    done = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "glomo pretrain: step 2" in done.stdout
    assert (out / "vocab.txt").is_file() and (out / "checkpoints" / "ckpt-00000002").is_dir()
    again = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 2
    assert "already holds a checkpoint of this model" in again.stderr.splitlines()[-1]


def _fresh_python(code, cwd, **env):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    environment.update(PYTHONPATH=REPO, **env)
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=environment,
                          capture_output=True, text=True, timeout=600)


def test_a_bad_path_fails_in_one_line_before_tensorflow_is_imported(tmp_path):
    done = _fresh_python(
        "import sys\nfrom glomo_tf.cli import main\n"
        f"code = main(['graphs', {str(tmp_path / 'missing')!r}, 'hello'])\n"
        "print(code, 'tensorflow' in sys.modules, 'keras' in sys.modules)", tmp_path)
    assert done.stdout.split() == ["2", "False", "False"], done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("glomo graphs: error:")


def test_verbose_and_debug_leave_tensorflow_logging_alone(tmp_path):
    done = _fresh_python(
        "import os, sys\nfrom glomo_tf.cli import main\n"
        "for flags in (['--verbose'], ['--debug'], []):\n"
        "    os.environ.pop('TF_CPP_MIN_LOG_LEVEL', None)\n"
        "    try:\n"
        f"        main(flags + ['graphs', {str(tmp_path / 'missing')!r}, 'x'])\n"
        "    except FileNotFoundError:\n"
        "        pass  # --debug raises\n"
        "    print(os.environ.get('TF_CPP_MIN_LOG_LEVEL'),\n"
        "          any(type(f).__name__ == '_QuietFinder' for f in sys.meta_path))\n", tmp_path)
    assert done.stdout.splitlines() == ["None False", "None False", "3 True"], done.stderr
    assert main(["graphs", "--verbose", "--help"]) == 0  # also a sub-option


@pytest.mark.slow
def test_a_command_that_loads_tensorflow_prints_only_its_own_lines(tmp_path):
    out = tmp_path / "graphs.png"
    argv = [sys.executable, "-m", "glomo_tf", "graphs", "glomo_planted_tiny", "the cat sat",
            "--out", str(out)]
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(argv, cwd=tmp_path, env={**environment, "PYTHONPATH": REPO},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert done.stdout == f"Wrote {out}\n" and out.stat().st_size > 1000


@pytest.mark.slow
def test_sigterm_stops_pretraining_cleanly_with_a_checkpoint_and_resume_continues(tmp_path, corpus):
    import signal
    import time

    out = tmp_path / "run"
    argv = [sys.executable, "-m", "glomo_tf", "pretrain", "--corpus", corpus, "--config", "tiny",
            "--out", str(out), "--batch-size", "4", "--sequence-length", "12", "--validate-every", "1000",
            "--checkpoint-every", "1000", "--validation-steps", "1", "--image-every", "0", "--quiet"]
    env = {**os.environ, "PYTHONPATH": REPO}
    process = subprocess.Popen(argv + ["--steps", "100000"], cwd=REPO, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    losses = out / "losses.tsv"
    deadline = time.time() + 300
    while time.time() < deadline and process.poll() is None:
        if losses.is_file() and len(losses.read_text().splitlines()) >= 4:  # header + 3 steps
            break
        time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 128 + signal.SIGTERM, err[-3000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("glomo pretrain: stopped by SIGTERM at step ") and "--resume" in last
    step = int(last.split("at step ")[1].split(";")[0])
    # Far from the 1000-step checkpoint grid: the checkpoint is the one the signal wrote.
    assert step >= 3 and (out / "checkpoints" / f"ckpt-{step:08d}").is_dir()
    steps = [int(line.split("\t")[0]) for line in losses.read_text().splitlines()[1:]]
    assert steps == list(range(1, step + 1))
    done = subprocess.run(argv + ["--steps", str(step + 2), "--resume"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"glomo pretrain: step {step + 2}, stopped: steps" in done.stdout
