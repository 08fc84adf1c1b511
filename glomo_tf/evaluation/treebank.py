"""Gold dependency trees from CoNLL-U files (Universal Dependencies), and the UD English-EWT file.

Only the basic tree is read: words with integer ids. Multi-word-token lines (`3-4`, the
surface form "don't" over the words "do" "n't") and empty nodes (`8.1`, enhanced graphs
only) are skipped, as UD's own evaluation does. Files may be `.xz`, `.gz` or `.bz2`
compressed. Parsing uses the `conllu` package.

Example:
>>> from glomo_tf.evaluation.treebank import parse_conllu
>>> sentences = parse_conllu("1\\tDogs\\t_\\t_\\t_\\t_\\t2\\tnsubj\\t_\\t_\\n"
...                          "2\\tbark\\t_\\t_\\t_\\t_\\t0\\troot\\t_\\t_\\n\\n")
>>> sentences[0].words, sentences[0].heads
(('Dogs', 'bark'), (2, 0))
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

EWT_DEV = "ud-english-ewt-dev"  # its name in glomo_tf.datasets.registry
EWT_DEV_FILE = os.path.join("ud_english_ewt", "en_ewt-ud-dev.conllu.xz")
EWT_DEV_UPSTREAM_FILE = os.path.join("ud_english_ewt", "en_ewt-ud-dev.conllu")


@dataclasses.dataclass(frozen=True)
class TreebankSentence:
    """One sentence's basic dependency tree.

    Attributes:
        words: the word forms (integer ids 1..n, in order).
        heads: `heads[i]` is the 1-based id of word i+1's head, 0 for the root.
        relations: the dependency relation of each word (`deprel`, subtype kept, e.g.
            `nmod:poss`); `base_relation` drops the subtype.
        text: the `# text` comment (the raw sentence), or None.
        sent_id: the `# sent_id` comment, or None.
    """

    words: tuple
    heads: tuple
    relations: tuple
    text: str | None = None
    sent_id: str | None = None

    def __len__(self):
        return len(self.words)


def base_relation(relation):
    """The universal relation without its language-specific subtype (`obl:tmod` → `obl`)."""
    return relation.split(":", 1)[0]


def _sentence(token_list, source, number):
    where = f"{source}, sentence {number}"
    if token_list.metadata.get("sent_id"):
        where += f" (sent_id {token_list.metadata['sent_id']})"
    words = [t for t in token_list if isinstance(t["id"], int)]
    if not words:
        raise ValueError(f"{where}: no word lines with integer ids.")
    ids = [t["id"] for t in words]
    if ids != list(range(1, len(words) + 1)):
        raise ValueError(f"{where}: word ids must run 1..{len(words)}; got {ids[:12]}.")
    heads, relations = [], []
    for token in words:
        head = token["head"]
        if not isinstance(head, int) or not 0 <= head <= len(words) or head == token["id"]:
            raise ValueError(
                f"{where}: word {token['id']} ({token['form']!r}) has head {head!r}; a head "
                f"must be 0 (root) or another word's id in 1..{len(words)}.")
        relation = token["deprel"]
        if not isinstance(relation, str) or not relation or relation == "_":
            raise ValueError(f"{where}: word {token['id']} has no dependency relation.")
        heads.append(head)
        relations.append(relation)
    return TreebankSentence(tuple(t["form"] for t in words), tuple(heads), tuple(relations),
                            token_list.metadata.get("text"), token_list.metadata.get("sent_id"))


def _parse(lines, source, max_sentences):
    import conllu
    from conllu.exceptions import ParseException

    if max_sentences is not None and (isinstance(max_sentences, bool) or
                                      not isinstance(max_sentences, int) or max_sentences < 1):
        raise ValueError(f"max_sentences must be a positive int or None; got {max_sentences!r}.")
    sentences = []
    try:
        for token_list in conllu.parse_incr(lines):
            sentences.append(_sentence(token_list, source, len(sentences) + 1))
            if max_sentences is not None and len(sentences) >= max_sentences:
                break
    except ParseException as e:
        raise ValueError(f"{source} is not valid CoNLL-U (after {len(sentences)} sentences): "
                         f"{e}") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"{source} is not UTF-8 text: {e}") from None
    except (EOFError, OSError) as e:  # a truncated or damaged .xz / .gz
        raise ValueError(f"{source} could not be read (corrupt or truncated?): {e}") from None
    if not sentences:
        raise ValueError(f"{source} holds no CoNLL-U sentences.")
    return sentences


def parse_conllu(text, source="<string>", max_sentences=None):
    """Sentences of a CoNLL-U string.

    Args:
        text: the file's content.
        source: a name for error messages.
        max_sentences: read at most this many sentences (None: all).

    Returns:
        A list of `TreebankSentence`.

    Raises:
        ValueError: not CoNLL-U, no sentence, ids not 1..n, a head outside the sentence
            or a missing relation (the message names the sentence).
    """
    import io

    return _parse(io.StringIO(text), source, max_sentences)


def read_conllu(path, max_sentences=None):
    """Sentences of a CoNLL-U file (`.conllu`, or `.xz`/`.gz`/`.bz2` compressed).

    Raises:
        FileNotFoundError: no such file.
        ValueError: see `parse_conllu`; also a corrupt compressed file.
    """
    from glomo_tf.files.compressed import open_text

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ValueError(f"treebank {path} is a directory, not a CoNLL-U file.")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"treebank not found: {path}")
    with open_text(path, newline=None) as f:
        return _parse(f, path, max_sentences)


def split_halves(sentences):
    """`(first half, second half)` by sentence order (the first gets the odd one out)."""
    middle = (len(sentences) + 1) // 2
    return list(sentences[:middle]), list(sentences[middle:])


def fetch_ewt_dev(root=None, progress=True) -> Path:
    """The UD English-EWT r2.16 dev file: the staged `.xz` copy, or the upstream download.

    Looks under the data folder (`GLOMO_DATA_DIR`, see `glomo_tf.datasets.data_dir`) for
    `ud_english_ewt/en_ewt-ud-dev.conllu.xz` or a previous download; otherwise downloads
    the file of the `r2.16` tag from GitHub and checks its pinned SHA-256.

    Args:
        root: the data folder (default: `data_dir()`).
        progress: draw a progress bar while downloading.

    Returns:
        The path of the CoNLL-U file (compressed or not).

    Raises:
        ConnectionError: not there and the download failed; ValueError: digest mismatch.
    """
    from glomo_tf.datasets.data_dir import data_dir
    from glomo_tf.datasets.registry import fetch

    root = Path(root) if root is not None else data_dir()
    fetch(EWT_DEV, root=root, progress=progress)
    staged = root / EWT_DEV_FILE
    return staged if staged.is_file() else root / EWT_DEV_UPSTREAM_FILE
