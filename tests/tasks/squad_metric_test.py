import pytest

from glomo_tf.tasks.squad_metric import evaluate, exact_match_score, f1_score, normalize_answer


def _data(*questions):
    return [{"title": "T", "paragraphs": [{"context": "c", "qas": [
        {"id": qid, "question": "?", "answers": [{"text": t, "answer_start": 0} for t in golds]}
        for qid, golds in questions]}]}]


def test_normalize():
    assert normalize_answer("The  Cat, an apple!") == "cat apple"
    assert normalize_answer("theater") == "theater"  # articles only as whole words
    assert normalize_answer("A-ha") == "aha"  # punctuation goes before articles are dropped
    assert normalize_answer("  \tThe\n") == ""


def test_exact_match_and_f1_by_hand():
    assert exact_match_score("the Eiffel Tower.", "Eiffel tower")
    # pred tokens [eiffel, tower, paris], gold [eiffel, tower]: P=2/3, R=1, F1=0.8
    assert f1_score("Eiffel Tower, Paris", "the Eiffel Tower") == pytest.approx(0.8)
    # with "in": 4 pred tokens, P=1/2, R=1, F1=2/3
    assert f1_score("Eiffel Tower in Paris", "the Eiffel Tower") == pytest.approx(2 / 3)
    # repeated tokens count by multiplicity: pred [x, x, y] vs gold [x, y, z, w]
    # common = {x: 1, y: 1} = 2, P = 2/3, R = 2/4, F1 = 2*(2/3)(1/2)/(7/6) = 4/7
    assert f1_score("x x y", "x y z w") == pytest.approx(4 / 7)
    assert f1_score("nothing", "else") == 0.0
    assert f1_score("the", "a") == 0.0  # both normalise to no tokens


def test_evaluate_max_over_golds_and_percentages(recwarn):
    data = _data(("q1", ["Denver Broncos", "The Broncos"]), ("q2", ["Santa Clara, California"]),
                 ("q3", ["1989"]), ("q4", ["gold"]))
    preds = {"q1": "Broncos", "q2": "Santa Clara", "q3": "in 1989", "extra": "ignored"}
    result = evaluate(data, preds)
    # q1: EM 1 vs "The Broncos"; q2: P=1, R=2/3 -> F1 0.8; q3: P=1/2, R=1 -> F1 2/3; q4 unanswered.
    assert result["exact_match"] == pytest.approx(100 * 1 / 4)
    assert result["f1"] == pytest.approx(100 * (1 + 0.8 + 2 / 3 + 0) / 4)
    assert any("1 unanswered question" in str(w.message) and "q4" in str(w.message) for w in recwarn)


def test_whole_json_and_errors():
    data = _data(("q1", ["x"]))
    assert evaluate({"version": "1.1", "data": data}, {"q1": "x"}) == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ValueError, match="no question"):
        evaluate([], {})
    with pytest.raises(ValueError, match="not str"):
        evaluate(data, {"q1": 3})
    with pytest.raises(ValueError, match="'data' list"):
        evaluate({"x": 1}, {})
