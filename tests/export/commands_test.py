import argparse
import os

import pytest

from glomo_tf.cli import main
from glomo_tf.export import commands
from tests.export import tiny_module


def parse(argv):
    parser = argparse.ArgumentParser(prog="glomo")
    commands.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_parsers():
    args = parse(["graphs", "mod", "some text", "--out", "g.png", "--layers", "0,1",
                  "--heads", "1"])
    assert (args.module, args.text, args.out, args.layers, args.heads) == (
        "mod", "some text", "g.png", [0, 1], [1])
    assert args.func is commands.run
    args = parse(["export", "run", "out", "--max-length", "64"])
    assert (args.run_dir, args.out, args.max_length, args.checkpoint) == ("run", "out", 64, None)
    # The spelling `glomo export RUN --out DIR` too.
    args = parse(["export", "run", "--out", "dir"])
    assert (args.run_dir, args.out, args.out_option) == ("run", None, "dir")
    assert commands._export_target(args) == "dir"
    with pytest.raises(SystemExit):
        parse(["graphs", "mod", "text", "--layers", "x"])


def test_graphs_command_writes_png(tmp_path, capsys):
    path = tiny_module.exported_module()[1]
    out = tmp_path / "graphs.png"
    assert main(["graphs", path, "the cat sat", "--out", str(out), "--heads", "0"]) == 0
    assert os.path.getsize(out) > 1000
    assert "Wrote" in capsys.readouterr().out


def test_default_max_length_matches_the_exporter():
    from glomo_tf.export.graph_module import DEFAULT_MAX_LENGTH

    assert commands.DEFAULT_MAX_LENGTH == DEFAULT_MAX_LENGTH


def test_graphs_command_missing_module(tmp_path):
    with pytest.raises(FileNotFoundError, match="nomodule"):
        main(["graphs", str(tmp_path / "nomodule"), "text", "--debug"])


def test_export_command_missing_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        main(["export", str(tmp_path / "nowhere"), str(tmp_path / "out"), "--debug"])
