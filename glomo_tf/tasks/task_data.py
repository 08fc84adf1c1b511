"""Downstream examples as the models see them: module-tokenized, filtered, counted.

Every example goes through the graph module's own tokenizer once (in batches) before
training, so that bad input is dealt with up front, never mid-epoch:

- empty texts (no module token) are skipped, counted as `"empty"`; texts whose module
  tokens are all `<unk>` too (`"all_unknown"`: the graphs would carry nothing);
- labels outside `[0, num_classes)` are skipped, counted as `"bad_label"`;
- texts longer than `max_tokens` module tokens are truncated to their first
  `max_tokens` tokens (the text becomes those tokens joined by spaces: re-tokenizing
  them gives the same tokens, as the module's normalisation is idempotent), counted as
  `"truncated"`; a text that fills the module's own `max_length` counts as truncated
  too (the module cuts it);
- what the loaders already skipped is added, prefixed `"loader_"`.

Subsets (`max_train`, `max_eval`) are drawn with a FIXED permutation
(`numpy.random.default_rng(0)`), the same for every seed and transfer mode, so that
runs with different seeds differ only in the model's initialisation and data order.

Validation (`hold_out`): data sets without a dev set of their own (IMDB, SST-2 whose dev
set serves as the test set) hold a fixed random share of the training split out for
validation (`numpy.random.default_rng(1)`), before the training subset is drawn.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

SUBSET_SEED = 0
VALIDATION_SEED = 1


def module_tokens(graph_module, texts, batch_size=256, with_known=False):
    """The module's tokens of each text: a list of lists of str.

    With `with_known`, also a list of bools: whether the text has a token in the
    module's vocabulary (an id other than `<unk>` = 0).
    """
    out, known = [], []
    for begin in range(0, len(texts), batch_size):
        chunk = list(texts[begin: begin + batch_size])
        tokens = graph_module.tokenize(chunk)
        rows = tokens["tokens"].numpy()
        ids = tokens["ids"].numpy()
        lengths = tokens["mask"].numpy().sum(axis=1)
        for row, row_ids, length in zip(rows, ids, lengths):
            # "replace": a module whose tokenizer emits invalid UTF-8 (modules exported
            # before the word tokenizer's white-space fix) must not stop a run.
            out.append([t.decode("utf-8", errors="replace") for t in row[: int(length)]])
            known.append(bool(np.any(row_ids[: int(length)])))
    return (out, known) if with_known else out


def hold_out(count, fraction):
    """`(train, validation)` index arrays: a fixed random `fraction` of `count` held out
    (at least 1 when `count` >= 2), both sorted."""
    held = int(round(count * fraction))
    held = min(max(held, 1 if count >= 2 else 0), max(count - 1, 0))
    order = np.random.default_rng(VALIDATION_SEED).permutation(count)
    return np.sort(order[held:]), np.sort(order[:held])


def subset_indices(count, limit):
    """Indices of a fixed random subset of `limit` of `count` items (all, in order, if None)."""
    if limit is None or limit >= count:
        return np.arange(count)
    return np.sort(np.random.default_rng(SUBSET_SEED).permutation(count)[:limit])


def count_loader_skips(counts, skipped):
    for reason, number in (skipped or {}).items():
        counts[f"loader_{reason}"] += int(number)


@dataclasses.dataclass
class TextExamples:
    """Texts (one or more per example) and integer labels, ready for `tf.data`.

    Attributes:
        texts: dict of input name → list of str (e.g. `{"text": [...]}` or
            `{"premise": [...], "hypothesis": [...]}`).
        labels: int32 `[N]`.
        vocabulary: the set of module tokens the texts use.
        counts: skipped/truncated counts by reason.
    """

    texts: dict
    labels: np.ndarray
    vocabulary: set
    counts: dict

    def __len__(self):
        return len(self.labels)


def prepare_text_examples(graph_module, texts, labels, num_classes, max_tokens,
                          limit=None, skipped=None):
    """Filters, truncates and counts classification or NLI examples.

    Args:
        graph_module: a loaded module (`load_graph_module`), for its tokenizer.
        texts: dict of input name → list of str, all the same length.
        labels: int labels, one per example.
        num_classes: labels must lie in `[0, num_classes)`.
        max_tokens: longest text kept whole; longer ones are truncated.
        limit: keep a fixed random subset of at most this many examples (taken
            before filtering, so the subset does not depend on the settings).
        skipped: the loader's skip counts, added to the counts.

    Returns:
        `TextExamples`.
    """
    labels = np.asarray(labels)
    names = list(texts)
    sizes = {name: len(texts[name]) for name in names}
    if any(size != len(labels) for size in sizes.values()):
        raise ValueError(f"texts {sizes} and labels ({len(labels)}) differ in length.")
    keep = subset_indices(len(labels), limit)
    counts = collections.Counter()
    count_loader_skips(counts, skipped)
    cap = min(max_tokens, graph_module.max_length)
    tokens, known = {}, {}
    for name in names:
        tokens[name], known[name] = module_tokens(
            graph_module, [texts[name][i] for i in keep], with_known=True)
    out = {name: [] for name in names}
    out_labels, vocabulary = [], set()
    for row, index in enumerate(keep):
        label = labels[index]
        if not (np.issubdtype(type(label), np.integer) or isinstance(label, int)) \
                or not 0 <= int(label) < num_classes:
            counts["bad_label"] += 1
            continue
        pieces = {name: tokens[name][row] for name in names}
        if any(len(p) == 0 for p in pieces.values()):
            counts["empty"] += 1
            continue
        if not all(known[name][row] for name in names):
            counts["all_unknown"] += 1
            continue
        for name in names:
            piece = pieces[name]
            text = texts[name][index]
            if len(piece) > cap or len(piece) >= graph_module.max_length:
                counts["truncated"] += 1
                piece = piece[:cap]
                text = " ".join(piece)
            out[name].append(text)
            vocabulary.update(piece)
        out_labels.append(int(label))
    return TextExamples(out, np.asarray(out_labels, np.int32), vocabulary, dict(counts))


def split_off_validation(raw, fraction):
    """Adds a `"validation"` split held out of `raw["train"]` (see `hold_out`), unless
    `raw` has one; the loader's skip counts stay with the training split."""
    if "validation" in raw:
        return dict(raw)
    texts, labels, skipped = raw["train"]
    train_index, validation_index = hold_out(len(labels), fraction)

    def pick(index):
        return ({name: [values[i] for i in index] for name, values in texts.items()},
                np.asarray(labels)[index])

    out = dict(raw)
    out["train"] = pick(train_index) + (skipped,)
    out["validation"] = pick(validation_index) + ({},)
    return out


def load_task_splits(task, data_dir=None, nli_protocol="reduced-v1"):
    """Raw splits of a classification task, each `(texts dict, labels, skipped)`.

    IMDB: `"train"`/`"eval"` = train/test (25k each); SST-2: train/dev (GLUE); NLI: the
    protocol's train and test, plus its `"validation"` (the others get theirs from
    `split_off_validation`).
    """
    from pathlib import Path

    root = Path(data_dir) if data_dir is not None else None
    if task == "imdb":
        from glomo_tf.datasets.imdb import load_imdb

        path = None if root is None else root / "imdb"
        splits = {name: load_imdb(name, path=path) for name in ("train", "test")}
        return {name: ({"text": s.texts}, s.labels, s.skipped)
                for name, s in (("train", splits["train"]), ("eval", splits["test"]))}
    if task == "sst2":
        from glomo_tf.datasets.sst2 import load_sst2

        path = None if root is None else root / "sst2"
        splits = {name: load_sst2(name, path=path) for name in ("train", "dev")}
        return {name: ({"text": s.sentences}, s.labels, s.skipped)
                for name, s in (("train", splits["train"]), ("eval", splits["dev"]))}
    if task == "nli":
        from glomo_tf.datasets.nli import load_nli_protocol

        splits = load_nli_protocol(nli_protocol, root=root)
        return {
            name: ({"premise": s.premises, "hypothesis": s.hypotheses}, s.labels, s.skipped)
            for name, s in (("train", splits["train"]), ("validation", splits["validation"]),
                            ("eval", splits["test"]))
        }
    raise ValueError(f"load_task_splits: unknown classification task {task!r}.")
