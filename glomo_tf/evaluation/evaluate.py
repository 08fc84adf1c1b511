"""`evaluate_module`: a graph module's heads against a treebank's gold trees.

The graphs of each sentence are computed from its gold words (`graphs_from_tokens`: the
module's normalisation and vocabulary, no splitting, so graph position t is word t).
Everything that is chosen (the best forward and backward head, the best fixed offsets,
the same per relation) is chosen on the selection sentences and scored on the others:
`--select-on FILE`, or else the first half of the treebank (scored on the second half).
The head → dependent direction (the head's row finding its dependent, Clark et al. 2019's
other reading) is scored beside it, and each relation is also read in the direction chosen
on the selection sentences. The untrained baseline is the same module's predictor at its
random initialisation (`export_untrained_like`), selected and scored the same way. Live
rows are counted on all the treebank's sentences (nothing is selected there).

Example:
>>> result = evaluate_module("saved_models/glomo_wiki",  # doctest: +SKIP
...                          "en_ewt-ud-dev.conllu.xz")
>>> print(format_table(result))  # doctest: +SKIP
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from glomo_tf.evaluation.attachment import (
    SIDES,
    AttachmentCounts,
    head_shares,
    score_heads,
    score_offsets,
    select_heads,
    select_offsets,
)
from glomo_tf.evaluation.treebank import read_conllu, split_halves

TOP_RELATIONS = 10
MAX_OFFSET = 20
# Graph floats per batch: B x 2 x L x K x T x T stays near 64 MB.
_BATCH_FLOATS = 16 * 1024 * 1024


def _batches(sentences, floats_per_position_pair, max_length):
    """Sentence index batches of similar length whose graphs fit `_BATCH_FLOATS`."""
    order = sorted(range(len(sentences)), key=lambda i: len(sentences[i]))
    batch = []
    for i in order:
        length = min(len(sentences[i]), max_length)
        if batch and (len(batch) + 1) * length * length * floats_per_position_pair > _BATCH_FLOATS:
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def sentence_graphs(graph_module, sentences):
    """Yields `(index, graphs [2, L, K, n, n])` per sentence, from its gold words.

    n is the sentence's length, or the module's `max_length` when shorter.
    """
    config = graph_module.config
    per_pair = 2 * config["num_layers"] * config["num_heads"]
    for batch in _batches(sentences, per_pair, graph_module.max_length):
        words = [list(sentences[i].words) for i in batch]
        out = graph_module.graphs_from_tokens(words)
        graphs, mask = out["graphs"].numpy(), out["mask"].numpy()
        for row, i in enumerate(batch):
            n = int(mask[row].sum())
            yield i, graphs[row][..., :n, :n]


def count_attachment(graph_module, sentences, max_offset=MAX_OFFSET, live=True):
    """`AttachmentCounts` of a module's graphs over `sentences` (and their live rows)."""
    config = graph_module.config
    counts = AttachmentCounts(config["num_layers"], config["num_heads"], max_offset)
    for i, graphs in sentence_graphs(graph_module, sentences):
        sentence = sentences[i]
        # A row with no weight at all has no top-1: a miss.
        top1 = np.where(graphs.max(-1) > 0, graphs.argmax(-1), -1)
        counts.add_sentence(top1, sentence.heads, sentence.relations)
        if live:
            counts.add_live_rows(graphs.sum(-1) > 0.5, graphs.shape[-1])
            counts.add_row_spread(graphs)
    return counts


def _head_entry(choice, scores):
    return {"forward": {"layer": choice.forward[0] + 1, "head": choice.forward[1] + 1,
                        "score": scores["forward"]},
            "backward": {"layer": choice.backward[0] + 1, "head": choice.backward[1] + 1,
                         "score": scores["backward"]},
            "combined": scores["combined"]}


def _offset_entry(choice, scores):
    return {"forward": {"offset": -choice.forward, "score": scores["forward"]},
            "backward": {"offset": choice.backward, "score": scores["backward"]},
            "combined": scores["combined"]}


def _dependent_entry(choice, scores):
    """Head → dependent: for words with the head on the left, the head's backward row
    finds them; for words with the head on the right, its forward row."""
    return {"head_left": {"graph": "backward", "layer": choice.forward[0] + 1,
                          "head": choice.forward[1] + 1, "score": scores["forward"]},
            "head_right": {"graph": "forward", "layer": choice.backward[0] + 1,
                           "head": choice.backward[1] + 1, "score": scores["backward"]},
            "combined": scores["combined"]}


def _dependent_heads(selection_tally, scored_tally):
    """`(choice, scored shares)` of the head → dependent direction."""
    choice = select_heads(selection_tally, selection_tally.dependent_hits)
    return choice, score_heads(scored_tally, choice, scored_tally.dependent_hits)


def _relations(selection, scored, names, untrained=None):
    rows = []
    for name in names:
        chosen, test = selection.relation(name), scored.relation(name)
        heads, offsets = select_heads(chosen), select_offsets(chosen)
        head_scores, offset_scores = score_heads(test, heads), score_offsets(test, offsets)
        dependents, dependent_scores = _dependent_heads(chosen, test)
        # The direction a relation is read in is chosen on the selection sentences too.
        reversed_wins = (score_heads(chosen, dependents, chosen.dependent_hits)["combined"]
                         > score_heads(chosen, heads)["combined"])
        direction_scores = dependent_scores if reversed_wins else head_scores
        row = {"relation": name, "words": int(test.words.sum()),
               "words_left": int(test.words[0]), "words_right": int(test.words[1]),
               "heads": _head_entry(heads, head_scores),
               "offsets": _offset_entry(offsets, offset_scores),
               "heads_beat_offsets": head_scores["combined"] > offset_scores["combined"],
               "dependent_heads": _dependent_entry(dependents, dependent_scores),
               "direction": "head→dependent" if reversed_wins else "dependent→head",
               "direction_beats_offsets":
                   direction_scores["combined"] > offset_scores["combined"]}
        if untrained is not None:
            u_selection, u_scored = untrained
            u_chosen, u_test = u_selection.relation(name), u_scored.relation(name)
            u_heads = select_heads(u_chosen)
            row["untrained_heads"] = _head_entry(u_heads, score_heads(u_test, u_heads))
            row["untrained_dependent_heads"] = _dependent_entry(
                *_dependent_heads(u_chosen, u_test))
        rows.append(row)
    return rows


def _per_head(tally, hits=None):
    shares = head_shares(tally, hits)
    return {side: shares[s].tolist() for s, side in enumerate(SIDES)}


def _dependents_per_head(tally):
    """Every graph's share of the dependents its rows point at: the forward graph's over
    the words whose head is on their right, the backward graph's over the others."""
    shares = head_shares(tally, tally.dependent_hits)
    return {"forward": shares[1].tolist(), "backward": shares[0].tolist()}


def _locality(tally):
    """How often the gold head, and each head's top-1, is the adjacent word."""
    words = np.maximum(tally.words, 1)
    gold = tally.offset_hits[:, 0] / words
    return {"gold": {side: float(gold[s]) for s, side in enumerate(SIDES)},
            "per_head": _per_head(tally, tally.adjacent_hits)}


def _live(counts):
    fractions = counts.live_fractions()
    counted = counts.counted_rows
    overall = float(counts.live_rows.sum() / max(counted.sum() * fractions.shape[1]
                                                 * fractions.shape[2], 1))
    columns, top_weight = counts.row_spread()
    live = max(int(counts.live_rows.sum()), 1)
    return {"forward": fractions[0].tolist(), "backward": fractions[1].tolist(),
            "overall": overall, "counted_rows_per_head": counted.tolist(),
            "live_columns": {"forward": columns[0].tolist(), "backward": columns[1].tolist(),
                             "overall": float(counts.live_columns.sum()
                                              / max(counts.allowed_columns.sum(), 1))},
            "top1_weight": {"forward": top_weight[0].tolist(),
                            "backward": top_weight[1].tolist(),
                            "overall": float(counts.top_weight.sum() / live)}}


def evaluate_module(module, treebank, select_on=None, max_sentences=None, untrained_seed=0,
                    max_offset=MAX_OFFSET, top_relations=TOP_RELATIONS, work_dir=None):
    """Directed attachment of a module's heads on a treebank (see the module docstring).

    Args:
        module: a module path (or bundled name) or a loaded `GraphModule`.
        treebank: the CoNLL-U file scored (`.xz`/`.gz` too), or a list of
            `TreebankSentence`.
        select_on: the CoNLL-U file (or sentences) heads and offsets are chosen on; None:
            the first half of `treebank` (then scored on its second half).
        max_sentences: read at most this many sentences of each file.
        untrained_seed: seed of the untrained baseline; None leaves it out.
        max_offset: the fixed-offset baseline tries distances 1..max_offset.
        top_relations: how many of the most frequent relations get their own row.
        work_dir: where the untrained module is written (a temporary directory by
            default, deleted afterwards).

    Returns:
        A JSON-ready dict: `methods` (GLoMo heads, fixed offsets, untrained heads: each
        side's choice and score, and the combined score), `per_head` (every head's
        score), `live_rows`, `relations` and the data's description.

    Raises:
        FileNotFoundError / ValueError: a missing or corrupt treebank, a directory that is
            not a graph module, a treebank too small to split.
    """
    from glomo_tf.export.graph_module import GraphModule, load_graph_module

    graph_module = module if isinstance(module, GraphModule) else load_graph_module(module)

    def sentences_of(source):
        if isinstance(source, (list, tuple)):
            return list(source)[:max_sentences] if max_sentences else list(source)
        return read_conllu(source, max_sentences=max_sentences)

    treebank_sentences = sentences_of(treebank)
    if select_on is None:
        if len(treebank_sentences) < 2:
            raise ValueError("the treebank needs at least 2 sentences to be split into a "
                             "selection half and a scored half (or pass --select-on).")
        selection_sentences, scored_sentences = split_halves(treebank_sentences)
        selection_note = (f"heads and offsets chosen on the first {len(selection_sentences)} "
                          f"sentences of the treebank, scored on the other "
                          f"{len(scored_sentences)}")
    else:
        selection_sentences, scored_sentences = sentences_of(select_on), treebank_sentences
        selection_note = (f"heads and offsets chosen on {len(selection_sentences)} sentences "
                          f"of the selection file, scored on the treebank's "
                          f"{len(scored_sentences)}")

    selection = count_attachment(graph_module, selection_sentences, max_offset)
    scored = count_attachment(graph_module, scored_sentences, max_offset)
    heads = select_heads(selection.total)
    methods = {"glomo": _head_entry(heads, score_heads(scored.total, heads)),
               "glomo_dependents": _dependent_entry(*_dependent_heads(selection.total,
                                                                      scored.total))}
    offsets = select_offsets(selection.total)
    methods["offsets"] = _offset_entry(offsets, score_offsets(scored.total, offsets))

    untrained = None
    if untrained_seed is not None:
        untrained = _untrained_counts(graph_module, selection_sentences, scored_sentences,
                                      untrained_seed, max_offset, work_dir)
        u_heads = select_heads(untrained[0].total)
        methods["untrained"] = dict(_head_entry(u_heads, score_heads(untrained[1].total,
                                                                     u_heads)),
                                    seed=int(untrained_seed))
        methods["untrained_dependents"] = dict(
            _dependent_entry(*_dependent_heads(untrained[0].total, untrained[1].total)),
            seed=int(untrained_seed))

    live = selection if select_on is None else None
    live_counts = _merge_live(scored, live)
    names = scored.most_frequent_relations(top_relations)
    return {
        "module": os.fspath(graph_module.path),
        "treebank": treebank if isinstance(treebank, str) else "<sentences>",
        "select_on": select_on if isinstance(select_on, str) or select_on is None
        else "<sentences>",
        "selection": selection_note,
        "sentences": {"selection": len(selection_sentences), "scored": len(scored_sentences)},
        "words": {"scored_left_head": int(scored.words[0]),
                  "scored_right_head": int(scored.words[1])},
        "num_layers": graph_module.config["num_layers"],
        "num_heads": graph_module.config["num_heads"],
        "max_length": graph_module.max_length,
        "max_offset": max_offset,
        "methods": methods,
        "per_head": _per_head(scored.total),
        "dependents_per_head": _dependents_per_head(scored.total),
        "adjacent": _locality(scored.total),
        "untrained_per_head": _per_head(untrained[1].total) if untrained else None,
        "live_rows": dict(_live(live_counts),
                          sentences=live_counts.sentences),
        "relations": _relations(selection, scored, names, untrained),
        "relation_labels": "base UD relations (subtypes merged: nmod:poss counts as nmod)",
    }


def _merge_live(scored, selection_half):
    """Live rows over the whole treebank: both halves when it was split."""
    if selection_half is None:
        return scored
    merged = AttachmentCounts(scored.num_layers, scored.num_heads, scored.max_offset)
    merged.live_rows = scored.live_rows + selection_half.live_rows
    merged.counted_rows = scored.counted_rows + selection_half.counted_rows
    for name in ("live_columns", "allowed_columns", "top_weight"):
        setattr(merged, name, getattr(scored, name) + getattr(selection_half, name))
    merged.sentences = scored.sentences + selection_half.sentences
    return merged


def _untrained_counts(graph_module, selection_sentences, scored_sentences, seed, max_offset,
                      work_dir):
    from glomo_tf.evaluation.untrained_module import export_untrained_like
    from glomo_tf.export.graph_module import load_graph_module

    with tempfile.TemporaryDirectory(prefix="glomo-untrained-", dir=work_dir) as directory:
        path = export_untrained_like(graph_module.path, os.path.join(directory, "module"),
                                     seed=seed)
        untrained = load_graph_module(path)
        return (count_attachment(untrained, selection_sentences, max_offset, live=False),
                count_attachment(untrained, scored_sentences, max_offset, live=False))


# Reports ------------------------------------------------------------------------------


def _pct(x):
    return f"{100 * x:.1f}%"


def _head_name(entry, side):
    return f"L{entry[side]['layer']} H{entry[side]['head']}"


def method_rows(result):
    """Rows `[method, forward choice, forward, backward choice, backward, combined]`."""
    methods = result["methods"]
    rows = []
    g = methods["glomo"]
    rows.append(["GLoMo heads", _head_name(g, "forward"), _pct(g["forward"]["score"]),
                 _head_name(g, "backward"), _pct(g["backward"]["score"]), _pct(g["combined"])])
    o = methods["offsets"]
    rows.append(["fixed offset", f"{o['forward']['offset']:+d}", _pct(o["forward"]["score"]),
                 f"{o['backward']['offset']:+d}", _pct(o["backward"]["score"]),
                 _pct(o["combined"])])
    if "untrained" in methods:
        u = methods["untrained"]
        rows.append([f"untrained predictor (seed {u['seed']})", _head_name(u, "forward"),
                     _pct(u["forward"]["score"]), _head_name(u, "backward"),
                     _pct(u["backward"]["score"]), _pct(u["combined"])])
    return rows


METHOD_HEADER = ["method", "forward (head left)", "score", "backward (head right)", "score",
                 "combined"]
DEPENDENT_HEADER = ["method", "head's forward row (dependent left)", "score",
                    "head's backward row (dependent right)", "score", "combined"]


def dependent_rows(result):
    """The head → dependent direction, `DEPENDENT_HEADER`'s rows (forward graph first)."""
    methods = result["methods"]
    rows = []
    for key, label in (("glomo_dependents", "GLoMo heads"),
                       ("untrained_dependents", "untrained predictor")):
        if key in methods:
            d = methods[key]
            if "seed" in d:
                label += f" (seed {d['seed']})"
            rows.append([label, _head_name(d, "head_right"), _pct(d["head_right"]["score"]),
                         _head_name(d, "head_left"), _pct(d["head_left"]["score"]),
                         _pct(d["combined"])])
    return rows


RELATION_HEADER = ["relation", "words (left/right)", "best heads", "heads", "best offsets",
                   "offsets", "untrained", "heads > offsets", "head→dep heads",
                   "head→dep", "untrained head→dep", "direction (chosen on selection)",
                   "its heads > offsets"]


def relation_rows(result):
    rows = []
    for r in result["relations"]:
        h, o, d = r["heads"], r["offsets"], r["dependent_heads"]
        untrained = _pct(r["untrained_heads"]["combined"]) if "untrained_heads" in r else "-"
        u_dependents = (_pct(r["untrained_dependent_heads"]["combined"])
                        if "untrained_dependent_heads" in r else "-")
        rows.append([r["relation"], f"{r['words']} ({r['words_left']}/{r['words_right']})",
                     f"{_head_name(h, 'forward')} / {_head_name(h, 'backward')}",
                     _pct(h["combined"]),
                     f"{o['forward']['offset']:+d} / {o['backward']['offset']:+d}",
                     _pct(o["combined"]), untrained, "yes" if r["heads_beat_offsets"] else "no",
                     f"fwd {_head_name(d, 'head_right')} / bwd {_head_name(d, 'head_left')}",
                     _pct(d["combined"]), u_dependents, r["direction"],
                     "yes" if r["direction_beats_offsets"] else "no"])
    return rows


def head_rows(result):
    """Rows `[direction, layer, head, attachment, finds dependents, top-1 adjacent, live
    rows, live columns, top-1 weight]` for every head."""
    rows = []
    adjacent = result["adjacent"]["per_head"]
    dependents = result["dependents_per_head"]
    live = result["live_rows"]
    for side in SIDES:
        for layer, shares in enumerate(result["per_head"][side]):
            for head, share in enumerate(shares):
                rows.append([side, layer + 1, head + 1, _pct(share),
                             _pct(dependents[side][layer][head]),
                             _pct(adjacent[side][layer][head]),
                             _pct(live[side][layer][head]),
                             _pct(live["live_columns"][side][layer][head]),
                             f"{live['top1_weight'][side][layer][head]:.2f}"])
    return rows


HEAD_HEADER = ["direction", "layer", "head", "attachment", "head → dependent",
               "top-1 on the adjacent word",
               "live rows", "live columns (of allowed)", "top-1 weight"]


def _summary_lines(result):
    w = result["words"]
    beats = sum(r["heads_beat_offsets"] for r in result["relations"])
    either = sum(r["direction_beats_offsets"] for r in result["relations"])
    return [
        f"Module: {result['module']}",
        f"Treebank: {result['treebank']}"
        + (f"; selection file: {result['select_on']}" if result["select_on"] else ""),
        f"Selection: {result['selection']}.",
        f"Scored words: {w['scored_left_head'] + w['scored_right_head']} non-root "
        f"({w['scored_left_head']} with the head on the left, {w['scored_right_head']} on "
        "the right); a word counts when its side's graph row puts its top-1 on the gold "
        "head (an all-zero row is a miss).",
        f"Live rows: {_pct(result['live_rows']['overall'])} of the rows with an allowed "
        f"column, over {result['live_rows']['sentences']} sentences; a live row puts weight "
        f"on {_pct(result['live_rows']['live_columns']['overall'])} of its allowed columns, "
        f"{result['live_rows']['top1_weight']['overall']:.2f} of it on its top-1.",
        f"Relations: {result['relation_labels']}; the best heads beat the best offsets on "
        f"{beats} of the {len(result['relations'])} most frequent; read in the direction "
        f"chosen per relation on the selection sentences (dependent → head, or head → "
        f"dependent: the head's row finds the dependent, Clark et al. 2019), on {either}.",
        _locality_line(result["adjacent"]),
    ]


def _locality_line(adjacent):
    gold, heads = adjacent["gold"], adjacent["per_head"]
    spans = []
    for side in SIDES:
        values = np.asarray(heads[side]).ravel()
        spans.append(f"{side} heads {_pct(values.min())}–{_pct(values.max())} (gold "
                     f"{_pct(gold[side])})")
    return ("Top-1 on the adjacent word, over the scored words of each side: "
            + "; ".join(spans) + ".")


def _text_table(header, rows):
    widths = [max(len(str(c)) for c in column) for column in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


DEPENDENT_TITLE = ("Head → dependent, the other direction (a word counts when its gold head's "
                   "row puts its top-1 on it; the fixed offsets score the same as above)")


def format_table(result):
    """The readable report printed by `glomo evaluate`."""
    parts = _summary_lines(result)
    parts += ["", _text_table(METHOD_HEADER, method_rows(result)), "",
              DEPENDENT_TITLE + ":", _text_table(DEPENDENT_HEADER, dependent_rows(result)), "",
              f"Top {len(result['relations'])} relations (chosen and scored per relation):",
              _text_table(RELATION_HEADER, relation_rows(result)), "",
              "Every head (score on its side's words; live rows over the treebank):",
              _text_table(HEAD_HEADER, head_rows(result))]
    return "\n".join(parts)


def markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows])


def to_markdown(result, heads=True):
    """The report as Markdown (what `--out` writes and the benchmark section holds)."""
    parts = ["- " + line for line in _summary_lines(result)]
    parts += ["", markdown_table(METHOD_HEADER, method_rows(result)), "",
              DEPENDENT_TITLE + ":", "", markdown_table(DEPENDENT_HEADER, dependent_rows(result)),
              "", f"Top {len(result['relations'])} relations, chosen and scored per relation "
              "(Clark et al. 2019):", "",
              markdown_table(RELATION_HEADER, relation_rows(result))]
    if heads:
        parts += ["", "Every head:", "", markdown_table(HEAD_HEADER, head_rows(result))]
    return "\n".join(parts) + "\n"
