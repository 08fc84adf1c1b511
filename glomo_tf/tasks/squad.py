"""The SQuAD v1.1 task: examples over the module's tokens, answer decoding, the official metric.

`evaluate(dataset, predictions)` is the official v1.1 EM/F1 (`squad_metric.evaluate`).

Examples (`prepare_squad`), as released: a question is dropped and counted when its
context has more than `max_context_tokens` module tokens (`"context_too_long"`, also
when it reaches the module's own `max_length`) or its question more than
`max_question_tokens` (`"question_too_long"`), when either is empty (`"empty"`) or all `<unk>` to the module (`"all_unknown"`), when
the context's tokens cannot be given character offsets (`"context_not_aligned"`, see
`squad_spans`), and — for training only — when no gold answer maps to a token span
(`"answer_not_mapped"`). Evaluation scores the kept questions against all their
original gold answers; the counts say how many were left out.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from glomo_tf.tasks.squad_metric import evaluate
from glomo_tf.tasks.squad_spans import answer_token_span, best_span, span_text, token_char_spans
from glomo_tf.tasks.task_data import count_loader_skips, module_tokens, subset_indices

__all__ = ["SquadExamples", "evaluate", "predict_answers", "prepare_squad", "scoring_dataset"]


@dataclasses.dataclass
class SquadExamples:
    """Questions ready for the reader.

    Attributes:
        ids, contexts, questions: per question.
        spans: per question, the context tokens' character spans.
        starts, ends: int32 token indices of the training answer (-1 when not mapped,
            only possible for evaluation examples).
        gold: per question, all original gold answer texts.
        counts: dropped questions by reason.
    """

    ids: list
    contexts: list
    questions: list
    spans: list
    starts: np.ndarray
    ends: np.ndarray
    gold: list
    counts: dict
    vocabulary: set

    def __len__(self):
        return len(self.ids)


def _gold_answers(data):
    gold = {}
    for article in data:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph.get("qas", []):
                gold[qa["id"]] = [a["text"] for a in qa.get("answers", []) if "text" in a]
    return gold


def prepare_squad(graph_module, squad_data, max_context_tokens=400, max_question_tokens=50,
                  limit=None, training=True):
    """Module-tokenized, filtered SQuAD questions (see the module docstring).

    Args:
        graph_module: a loaded module (`load_graph_module`), for its tokenizer.
        squad_data: a `SquadData` from the loaders.
        max_context_tokens, max_question_tokens: length limits (module tokens).
        limit: a fixed random subset of at most this many questions (before filtering).
        training: drop questions whose answer maps to no token span.

    Returns:
        `SquadExamples`.
    """
    examples = [squad_data.examples[i] for i in subset_indices(len(squad_data.examples), limit)]
    counts = collections.Counter()
    count_loader_skips(counts, squad_data.skipped)
    gold = _gold_answers(squad_data.data)
    contexts = sorted({ex.context for ex in examples})
    context_tokens, context_known = module_tokens(graph_module, contexts, with_known=True)
    context_known = dict(zip(contexts, context_known))
    context_tokens = dict(zip(contexts, context_tokens))
    question_tokens, question_known = module_tokens(
        graph_module, [ex.question for ex in examples], with_known=True)
    context_cap = min(max_context_tokens, graph_module.max_length - 1)
    question_cap = min(max_question_tokens, graph_module.max_length - 1)
    aligned = {}
    context_spans = dict(zip(contexts, graph_module.word_char_spans(contexts)))
    out = collections.defaultdict(list)
    vocabulary = set()
    for ex, q_tokens, q_known in zip(examples, question_tokens, question_known):
        c_tokens = context_tokens[ex.context]
        if not c_tokens or not q_tokens:
            counts["empty"] += 1
            continue
        if not (q_known and context_known[ex.context]):
            counts["all_unknown"] += 1
            continue
        if len(c_tokens) > context_cap:
            counts["context_too_long"] += 1
            continue
        if len(q_tokens) > question_cap:
            counts["question_too_long"] += 1
            continue
        if ex.context not in aligned:
            aligned[ex.context] = token_char_spans(context_spans[ex.context], c_tokens)
        spans = aligned[ex.context]
        if spans is None:
            counts["context_not_aligned"] += 1
            continue
        mapped = None
        for answer in ex.answers:
            mapped = answer_token_span(spans, answer.answer_start, answer.text)
            if mapped is not None:
                break
        if mapped is None:
            if training:
                counts["answer_not_mapped"] += 1
                continue
            mapped = (-1, -1)
        out["ids"].append(ex.id)
        out["contexts"].append(ex.context)
        out["questions"].append(ex.question)
        out["spans"].append(spans)
        out["starts"].append(mapped[0])
        out["ends"].append(mapped[1])
        out["gold"].append(gold.get(ex.id) or [a.text for a in ex.answers])
        vocabulary.update(c_tokens)
        vocabulary.update(q_tokens)
    return SquadExamples(
        ids=out["ids"], contexts=out["contexts"], questions=out["questions"],
        spans=out["spans"], starts=np.asarray(out["starts"], np.int32),
        ends=np.asarray(out["ends"], np.int32), gold=out["gold"], counts=dict(counts),
        vocabulary=vocabulary)


def hold_out_articles(squad_data, fraction):
    """`(train, validation)` `SquadData`: a fixed random `fraction` of the articles (by
    title, NumPy rng 1, at least one) held out, so no paragraph is in both."""
    from glomo_tf.datasets.squad import SquadData
    from glomo_tf.tasks.task_data import hold_out

    titles = sorted({ex.title for ex in squad_data.examples})
    _, held = hold_out(len(titles), fraction)
    held = {titles[i] for i in held}
    parts = [[ex for ex in squad_data.examples if (ex.title in held) == is_held]
             for is_held in (False, True)]
    return (SquadData(parts[0], squad_data.data, dict(squad_data.skipped)),
            SquadData(parts[1], squad_data.data, {}))


def predict_answers(model, examples, batch_size=32, max_span_length=16, batches=None):
    """`{question id: answer text}`: best spans (≤ `max_span_length` tokens) mapped to text.

    `batches`: optional iterable of model input batches in example order (e.g. a
    `task_dataset` with cached graphs, without shuffling); default the texts alone.
    """
    predictions = {}
    if batches is None:
        batches = ({"context": np.asarray(examples.contexts[b: b + batch_size], dtype=object),
                    "question": np.asarray(examples.questions[b: b + batch_size], dtype=object)}
                   for b in range(0, len(examples), batch_size))
    begin = 0
    for batch in batches:
        logits = model.predict_on_batch(batch)
        stop = begin + len(np.asarray(logits["start"]))
        start, end = np.asarray(logits["start"]), np.asarray(logits["end"])
        for row, index in enumerate(range(begin, stop)):
            spans = examples.spans[index]
            first, last, _ = best_span(start[row], end[row], len(spans), max_span_length)
            predictions[examples.ids[index]] = span_text(
                examples.contexts[index], spans, first, last)
        begin = stop
    return predictions


def scoring_dataset(examples):
    """A minimal SQuAD `data` list holding exactly `examples`' questions and gold answers."""
    qas = [{"id": qid, "answers": [{"text": t} for t in gold]}
           for qid, gold in zip(examples.ids, examples.gold)]
    return [{"paragraphs": [{"qas": qas}]}]
