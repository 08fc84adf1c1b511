"""Tiny CoNLL-U treebanks in the words of `tests/export/tiny_module.VOCABULARY`."""

import lzma


def _sentence(sent_id, rows, extra=()):
    lines = [f"# sent_id = {sent_id}", "# text = " + " ".join(r[0] for r in rows)]
    lines += list(extra)
    for i, (form, head, relation) in enumerate(rows, start=1):
        lines.append(f"{i}\t{form}\t{form.lower()}\t_\t_\t_\t{head}\t{relation}\t_\t_")
    return "\n".join(lines) + "\n\n"


SENTENCES = [
    ("s1", [("The", 2, "det"), ("cat", 3, "nsubj"), ("sat", 0, "root"), ("on", 6, "case"),
            ("the", 6, "det"), ("mat", 3, "obl"), (".", 3, "punct")]),
    ("s2", [("A", 3, "det"), ("big", 3, "amod"), ("dog", 4, "nsubj"), ("ran", 0, "root"),
            (".", 4, "punct")]),
    ("s3", [("The", 2, "det"), ("dog", 3, "nsubj"), ("saw", 0, "root"), ("a", 6, "det"),
            ("red", 6, "amod"), ("ball", 3, "obj"), (".", 3, "punct")]),
    ("s4", [("It", 2, "nsubj"), ("ran", 0, "root"), ("and", 6, "cc"), ("the", 5, "det"),
            ("cat", 6, "nsubj"), ("sat", 2, "conj"), (".", 2, "punct")]),
]


def treebank(sentences=SENTENCES):
    """CoNLL-U text; s2 also has a multi-word-token line and an empty node to skip."""
    parts = []
    for sent_id, rows in sentences:
        text = _sentence(sent_id, rows)
        if sent_id == "s2":
            lines = text.split("\n")
            lines.insert(2, "1-2\tAbig\t_\t_\t_\t_\t_\t_\t_\t_")
            lines.insert(len(lines) - 2, "3.1\tran\tran\t_\t_\t_\t_\t_\t4:conj\t_")
            text = "\n".join(lines)
        parts.append(text)
    return "".join(parts)


def write(path, text=None):
    """Writes a treebank to `path` (`.xz` compressed when the name says so)."""
    text = treebank() if text is None else text
    data = text.encode("utf-8")
    path.write_bytes(lzma.compress(data) if str(path).endswith(".xz") else data)
    return path
