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


def test_regenerating_a_section_keeps_its_hand_written_notes(monkeypatch, tmp_path):
    target = tmp_path / "BENCHMARKS.md"
    monkeypatch.setattr(report, "BENCHMARKS", str(target))
    report.write_section("a", "A", "| table | 1 |")
    report.write_section("b", "B", "other")
    text = target.read_text()
    note = "Note (added by hand, 2026-12-07): run alone;\nthe second seed was resumed."
    note2 = "Note 2 (added by hand, 2026-12-08): rerun."
    text = text.replace("| table | 1 |", f"| table | 1 |\n\n{note}\n\n{note2}")
    target.write_text(text)
    report.write_section("a", "A", "| table | 2 |")
    text = target.read_text()
    section_a = text[text.index("## A"): text.index("<!-- /bench:a -->")]
    assert "| table | 2 |" in section_a and "| table | 1 |" not in section_a
    assert section_a.index("| table | 2 |") < section_a.index(note) < section_a.index(note2)
    report.write_section("a", "A", "| table | 3 |")          # kept once, not duplicated
    assert target.read_text().count(note) == 1 and "other" in target.read_text()
    assert report.hand_notes("x\n\nNote (added by hand, d): y\nz\n\nNote: not by hand") == \
        ["Note (added by hand, d): y\nz"]
