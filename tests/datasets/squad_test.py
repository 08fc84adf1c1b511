import json
import lzma

import pytest

from glomo_tf.datasets.squad import load_squad, load_squad_protocol, reduced_v1_split

CONTEXT = "The cat sat on the mat in Paris."


def _squad(titles=("Cats",)):
    data = []
    for t, title in enumerate(titles):
        data.append({"title": title, "paragraphs": [{"context": CONTEXT, "qas": [
            {"id": f"{t}-q1", "question": "Who sat?", "answers": [
                {"text": "The cat", "answer_start": 0}, {"text": "cat", "answer_start": 4}]},
            {"id": f"{t}-q2", "question": "Where?", "answers": [
                {"text": "Paris", "answer_start": 26},  # actually at 26
                {"text": "London", "answer_start": 26}]},  # not in the context: dropped
            {"id": f"{t}-q3", "question": "Bad?", "answers": [{"text": "dog", "answer_start": 4}]},
        ]}]})
    return {"version": "1.1", "data": data}


def test_load_squad_json_xz(tmp_path):
    path = tmp_path / "dev-v1.1.json.xz"
    path.write_bytes(lzma.compress(json.dumps(_squad()).encode()))
    squad = load_squad(tmp_path)
    assert CONTEXT[26:31] == "Paris"
    assert [e.id for e in squad.examples] == ["0-q1", "0-q2"]
    q2 = squad.examples[1]
    assert q2.title == "Cats" and q2.question == "Where?" and q2.context == CONTEXT
    assert [(a.text, a.answer_start) for a in q2.answers] == [("Paris", 26)]
    assert squad.skipped == {"answer_mismatch": 2, "no_valid_answer": 1}
    assert len(squad.data) == 1


def test_bad_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_squad(tmp_path / "x.json")
    (tmp_path / "y.json").write_text("[]")
    with pytest.raises(ValueError, match="not a SQuAD file"):
        load_squad(tmp_path / "y.json")


def test_reduced_split_rule_is_by_article_and_seeded():
    titles = [f"T{i:02d}" for i in range(48)]
    train, test = reduced_v1_split(list(reversed(titles)))
    assert len(train) == 36 and len(test) == 12 and not set(train) & set(test)
    assert (train, test) == reduced_v1_split(titles)  # depends on the set only


def test_protocols(tmp_path):
    folder = tmp_path / "squad_v1.1"
    folder.mkdir()
    (folder / "dev-v1.1.json").write_text(json.dumps(_squad([f"A{i}" for i in range(48)])))
    splits = load_squad_protocol("reduced-v1", root=tmp_path)
    assert len(splits["train"].data) == 36 and len(splits["test"].data) == 12
    assert len(splits["test"].examples) == 24
    with pytest.raises(FileNotFoundError, match="train-v1.1.json"):
        load_squad_protocol("paper", root=tmp_path)
    (folder / "train-v1.1.json").write_text(json.dumps(_squad()))
    assert len(load_squad_protocol("paper", root=tmp_path)["train"].examples) == 2
