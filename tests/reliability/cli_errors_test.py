"""Every subcommand: a missing argument, path or file exits with code 2 and one line saying
what is wrong (no traceback unless --debug)."""

import os
import subprocess
import sys

import pytest

from glomo_tf.cli import build_parser, main
from tests.reliability.harness import REPO, environment

# Per subcommand: argv that lack a required argument, or name a path that does not exist
# (MISSING), or a directory that is not what the command expects (EMPTY_DIR), with a
# fragment the error line must contain.
CASES = {
    "pretrain": [
        (["pretrain", "--out", "OUT"], "--corpus"),
        (["pretrain", "--corpus", "synthetic"], "--out"),
        (["pretrain", "--corpus", "MISSING", "--out", "OUT"], "MISSING"),
        (["pretrain", "--corpus", "synthetic", "--out", "OUT", "--config", "MISSING.json"], "MISSING.json"),
        (["pretrain", "--corpus", "synthetic", "--out", "OUT", "--validation-corpus", "MISSING"], "MISSING"),
        (["pretrain", "--corpus", "synthetic", "--out", "OUT", "--resume"], "no checkpoint"),
    ],
    "export": [
        (["export"], "required"),
        (["export", "MISSING", "OUT"], "MISSING"),
        (["export", "EMPTY_DIR", "OUT"], "config.json"),
        (["export", "EMPTY_DIR"], "give OUT or --out DIR"),
        (["export", "EMPTY_DIR", "OUT", "--out", "ELSEWHERE"], "give one"),
    ],
    "graphs": [
        (["graphs"], "required"),
        (["graphs", "glomo_nope", "the cat"], "known presets"),
        (["graphs", "MISSING", "the cat"], "MISSING"),
        (["graphs", "EMPTY_DIR", "the cat"], "saved_model.pb"),
    ],
    "finetune": [
        (["finetune", "--task", "sst2"], "--graphs"),
        (["finetune", "--task", "sst2", "--graphs", "MISSING"], "MISSING"),
    ],
    "tune": [
        (["tune", "--directory", "OUT"], "--task"),
        (["tune", "--task", "pretrain"], "--directory"),
        (["tune", "--task", "pretrain", "--directory", "OUT", "--corpus", "MISSING"], "MISSING"),
    ],
    "demo": [
        (["demo", "--module", "MISSING", "--out", "OUT"], "MISSING"),
        (["demo", "--module", "glomo_nope", "--out", "OUT"], "known presets"),
    ],
    "evaluate": [
        (["evaluate", "glomo_planted_tiny"], "--treebank"),
        (["evaluate", "MISSING", "--treebank", "MISSING.json"], "MISSING"),
        (["evaluate", "glomo_nope", "--treebank", "MISSING.json"], "known presets"),
        (["evaluate", "EMPTY_DIR", "--treebank", "MISSING.json"], "glomo_module.json"),
        (["evaluate", "glomo_planted_tiny", "--treebank", "MISSING.json"], "MISSING.json"),
        (["evaluate", "glomo_planted_tiny", "--treebank", "EMPTY_DIR"], "EMPTY_DIR"),
    ],
    "presets": [
        (["presets", "glomo_nope"], "known presets: glomo_planted_tiny"),
    ],
}


def _subcommands():
    parser = build_parser()
    action = next(a for a in parser._actions if a.dest == "command")
    return sorted(action.choices)


def test_every_subcommand_has_cases():
    # A new subcommand must say here how it reports missing input.
    assert sorted(CASES) == _subcommands()


@pytest.mark.parametrize("argv, fragment", [case for cases in CASES.values() for case in cases],
                         ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_missing_argument_path_or_file_is_one_line_and_exit_2(tmp_path, capsys, argv, fragment):
    (tmp_path / "empty").mkdir()
    where = {"MISSING": str(tmp_path / "missing"), "MISSING.json": str(tmp_path / "missing.json"),
             "EMPTY_DIR": str(tmp_path / "empty"), "OUT": str(tmp_path / "out")}
    argv = [where.get(a, a) for a in argv]
    fragment = where.get(fragment, fragment)
    code = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith(f"glomo {argv[0]}"), err
    assert fragment in lines[0] and "Traceback" not in err
    assert not (tmp_path / "out").exists() or argv[0] in ("pretrain", "tune")


def test_debug_shows_the_traceback_instead(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["graphs", str(tmp_path / "missing"), "the cat", "--debug"])


@pytest.mark.slow
def test_undecodable_command_line_bytes_in_a_real_process(tmp_path):
    # Python turns them into lone surrogates; the error line must still print.
    done = subprocess.run([sys.executable, "-m", "glomo_tf", "graphs", os.fsencode(tmp_path) + b"/\xff\xfe", "x"],
                          cwd=REPO, env=environment(), capture_output=True, timeout=300)
    err = done.stderr.decode("utf-8", "replace")
    lines = [line for line in err.splitlines() if line.startswith("glomo")]
    assert done.returncode == 2, err
    assert len(lines) == 1 and "not found" in lines[0] and "\\udcff" in lines[0], err
    assert "Traceback" not in err
