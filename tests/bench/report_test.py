"""bench/report.py: the provenance line names no machine path."""

import os

from bench import report


def test_home_paths_are_shown_from_the_tilde(monkeypatch):
    monkeypatch.setenv("HOME", "/home/someone")
    assert report._shown_argument("/home/someone/runs/glomo wiki") == "~/'runs/glomo wiki'"
    assert report._shown_argument("/home/someone/runs/a") == "~/runs/a"
    assert report._shown_argument("/home/someoneelse/a") == "/home/someoneelse/a"
    assert report._shown_argument("--run") == "--run"


def test_write_section_replaces_only_its_own_section(monkeypatch, tmp_path):
    target = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(report, "BENCHMARKS", str(target))
    report.write_section("a", "A", "first")
    report.write_section("b", "B", "other")
    report.write_section("a", "A", "second")
    text = target.read_text()
    assert text.startswith("# Benchmarks")
    assert "second" in text and "first" not in text and "other" in text
    assert text.index("## A") < text.index("## B")
    assert os.listdir(tmp_path) == ["BENCHMARKS.md"]  # no temporary file left
