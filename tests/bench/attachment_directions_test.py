"""bench/attachment_directions.py on the tiny module and a small treebank."""

import pytest

from bench import attachment_directions
from tests.evaluation import conllu_samples
from tests.export import tiny_module


def test_both_orders_are_scored_and_tabled(tmp_path, capsys):
    module = tiny_module.exported_module()[1]
    treebank = str(conllu_samples.write(tmp_path / "tb.conllu"))
    attachment_directions.main(["--module", module, "--treebank", treebank, "--no-write",
                                "--untrained-seed", "0"])
    out = capsys.readouterr().out
    assert "| first half → second half |" in out and "| second half → first half |" in out
    assert "| det |" in out and "head → dependent" in out


def test_the_orders_swap_selection_and_scored_halves():
    from glomo_tf.evaluation.treebank import parse_conllu

    sentences = parse_conllu(conllu_samples.treebank())
    module = tiny_module.exported_module()[1]
    first, second = attachment_directions.evaluate_both_orders(module, sentences,
                                                               untrained_seed=None)
    assert first["sentences"] == {"selection": 2, "scored": 2} == second["sentences"]
    # Each order's scored words are the other half's: together, every non-root word once.
    words = lambda r: r["words"]["scored_left_head"] + r["words"]["scored_right_head"]  # noqa: E731
    total = sum(1 for s in sentences for h in s.heads if h != 0)
    assert words(first) + words(second) == total
    rows = attachment_directions.overall_rows([first, second])
    assert [row[5] for row in rows] == ["-", "-"]          # no untrained baseline asked for


def test_a_missing_treebank_is_a_clean_error(tmp_path):
    with pytest.raises(SystemExit) as error:
        attachment_directions.main(["--treebank", str(tmp_path / "none.conllu"), "--no-write"])
    assert error.value.code == 2
