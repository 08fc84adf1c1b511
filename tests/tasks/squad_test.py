"""SQuAD over module tokens: offsets, answer mapping, span decoding (≤ 16), filtering, metric."""

import numpy as np
import pytest

from glomo_tf.tasks import squad
from glomo_tf.tasks.squad_spans import answer_token_span, best_span, span_text, token_char_spans

CONTEXT = "The cat's mat cost 3.50 dollars — don't ask — in 1990s-era <unk> shops."
# The words of CONTEXT with the module's English splitting (and their character spans).
WORDS = ["The", "cat", "'s", "mat", "cost", "3.50", "dollars", "—", "do", "n't", "ask", "—",
         "in", "1990s", "-", "era", "<unk>", "shops", "."]


def _spans(words, text):
    spans, at = [], 0
    for word in words:
        at = text.index(word, at)
        spans.append((at, at + len(word)))
        at += len(word)
    return spans


def test_offsets_come_from_the_module_tokenizer(graph_module_dir):
    from glomo_tf.export.graph_module import load_graph_module

    module = load_graph_module(graph_module_dir)
    assert module.splitting == "english"
    out = module.tokenize([CONTEXT])
    tokens = [t.decode() for t in out["tokens"].numpy()[0]]
    [spans] = module.word_char_spans([CONTEXT])
    assert token_char_spans(spans, tokens) == spans
    assert [CONTEXT[s:e] for s, e in spans] == WORDS
    assert tokens[5] == "N" and tokens[0] == "the" and tokens[2] == "'s"
    assert token_char_spans(spans, tokens[:-1]) is None  # counts differ: not aligned
    # Characters, not bytes: the spans after a multi-byte character stay on their words.
    [accented] = module.word_char_spans(["café — naïve, ok"])
    assert [("café — naïve, ok")[s:e] for s, e in accented] == ["café", "—", "naïve", ",", "ok"]
    assert module.word_char_spans([]) == [] and module.word_char_spans([""]) == [[]]


def test_answer_mapping_by_hand():
    spans = _spans(WORDS, CONTEXT)
    start = CONTEXT.index("3.50")
    assert answer_token_span(spans, start, "3.50 dollars") == (5, 6)
    # An answer cutting into a token still covers that token.
    assert answer_token_span(spans, CONTEXT.index("ollars"), "ollars —") == (6, 7)
    assert answer_token_span(spans, len(CONTEXT) + 5, "x") is None
    assert answer_token_span(spans, 3, " ") is None
    assert span_text(CONTEXT, spans, 5, 6) == "3.50 dollars"


def test_best_span_respects_the_length_limit():
    start = np.zeros(40)
    end = np.zeros(40)
    start[2], end[30] = 5.0, 5.0     # best pair is 29 tokens long: not allowed
    end[10] = 1.0
    assert best_span(start, end, 40, max_span_length=16) == (2, 10, 6.0)
    assert best_span(start, end, 40, max_span_length=29) == (2, 30, 10.0)
    assert best_span(start, end, 20, max_span_length=16)[:2] == (2, 10)  # 30 is padding
    assert best_span([1.0], [2.0], 1) == (0, 0, 3.0)
    with pytest.raises(ValueError, match="real token"):
        best_span([], [], 0)


def test_prepare_squad_drops_and_counts(graph_module_dir, data_root):
    from glomo_tf.datasets.squad import load_squad_protocol
    from glomo_tf.export.graph_module import load_graph_module

    module = load_graph_module(graph_module_dir)
    splits = load_squad_protocol("reduced-v1", root=data_root)
    train = squad.prepare_squad(module, splits["train"], max_context_tokens=30,
                                max_question_tokens=6)
    assert train.counts["context_too_long"] > 0
    assert train.counts["loader_no_valid_answer"] > 0
    assert "question_too_long" not in train.counts
    first = train.ids.index(next(i for i in train.ids if i.endswith("a")))
    assert span_text(train.contexts[first], train.spans[first], train.starts[first],
                     train.ends[first]) == "The cat"
    short = squad.prepare_squad(module, splits["train"], max_question_tokens=3)
    assert short.counts["question_too_long"] > 0
    gold = squad.scoring_dataset(train)
    predictions = dict(zip(train.ids, ["the cat"] * len(train)))
    scores = squad.evaluate(gold, predictions)
    assert 0 < scores["exact_match"] < 100 and squad.evaluate is not None
