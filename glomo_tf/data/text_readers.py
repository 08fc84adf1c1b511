"""Streaming readers that turn raw corpora into an iterator of document strings.

Supported layouts (all streamed; archives are read member by member with `tarfile`,
nothing is extracted to disk):

| `format`          | what a document is |
|-------------------|--------------------|
| `"lines"`         | one non-blank line of a plain text file |
| `"paragraphs"`    | a run of non-blank lines; blank lines separate documents |
| `"ptb"`           | one line of a Penn Treebank (Mikolov) file: the file is one stream of sentences, so every line is yielded on its own, like `"lines"` |
| `"wikitext"`      | one article of a WikiText `.tokens` file: a top-level `= Title =` line starts a new article |
| `"wikiextractor"` | one `<doc ...>` ... `</doc>` block of WikiExtractor output, title line dropped |
| `"imdb"`          | one review file `aclImdb/{train,test}/{pos,neg,unsup}/*.txt`, `<br />` turned into a space |

A path may be a file (optionally `.xz`, `.gz` or `.bz2` compressed), a directory tree, or a
`.tar`, `.tar.gz`/`.tgz`, `.tar.xz`/`.txz`, `.tar.bz2` archive. `format="auto"` decides per
path: IMDB when review files sit in `pos`/`neg`/`unsup` folders; otherwise per file,
WikiExtractor when the first non-blank line starts with `<doc `, WikiText for `*.tokens`
files, PTB for `ptb.*.txt` files, and `"lines"` for anything else.

Bytes that are not valid UTF-8 become U+FFFD (one per maximal invalid subsequence, as
Python's `errors="replace"` does) and are counted in `ReadStats.replaced_characters`;
a corrupt file never stops a long pretraining run.
"""

from __future__ import annotations

import dataclasses
import io
import os
import re
import tarfile
from typing import IO, Iterable, Iterator, Optional, Sequence

from glomo_tf.files.compressed import open_binary, strip_compression

FORMATS = ("auto", "lines", "paragraphs", "ptb", "wikitext", "wikiextractor", "imdb")

_ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
_REPLACEMENT_BYTES = "\ufffd".encode("utf-8")
_IMDB_MEMBER = re.compile(r"(?:^|/)(?:train|test)/(?:pos|neg|unsup)/[^/]+\.txt$")
_IMDB_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
# A WikiText article title is `= Title =` with single `=`; `= = Section = =` is a
# section heading inside the article.
_WIKITEXT_TITLE = re.compile(r"^= (?!=)(.*?)(?<!=) =$")
_WIKITEXT_HEADING = re.compile(r"^(=(?: =)*) (.*?) \1$")
# WikiText escapes in-word hyphens and number separators as ` @-@ `, ` @,@ `, ` @.@ `.
_WIKITEXT_ESCAPE = re.compile(r" @([-,.])@ ")


@dataclasses.dataclass
class ReadStats:
    """Counters filled in while a corpus is being read.

    Attributes:
        documents: documents yielded so far.
        files: files (or archive members) opened so far.
        bytes: decompressed bytes read so far.
        replaced_characters: U+FFFD characters inserted for undecodable bytes.
        empty_documents: documents dropped because they held no text.
    """

    documents: int = 0
    files: int = 0
    bytes: int = 0
    replaced_characters: int = 0
    empty_documents: int = 0


def decode_utf8(data: bytes, stats: Optional[ReadStats] = None) -> str:
    """Decodes UTF-8, replacing and counting undecodable bytes.

    Args:
        data: raw bytes.
        stats: optional `ReadStats` whose `bytes` and `replaced_characters` are
            incremented.

    Returns:
        The decoded string; each maximal invalid byte subsequence becomes one U+FFFD.
    """
    text = data.decode("utf-8", errors="replace")
    if stats is not None:
        stats.bytes += len(data)
        if "\ufffd" in text:
            # A genuine U+FFFD in the input is the 3-byte sequence EF BF BD, which always
            # decodes as itself (0xEF is never a continuation byte), so the difference is
            # exactly the number of replacements.
            stats.replaced_characters += text.count("\ufffd") - data.count(_REPLACEMENT_BYTES)
    return text


def _is_archive(path: str) -> bool:
    return path.lower().endswith(_ARCHIVE_SUFFIXES)


def _lines(stream: IO[bytes], stats: ReadStats) -> Iterator[str]:
    for raw in stream:
        yield decode_utf8(raw, stats).rstrip("\r\n")


def _guess_text_format(name: str, first_line: bytes) -> str:
    if first_line.startswith(b"<doc "):
        return "wikiextractor"
    base = os.path.basename(strip_compression(name)).lower()
    if base.endswith(".tokens"):
        return "wikitext"
    if base.startswith("ptb.") and base.endswith(".txt"):
        return "ptb"
    return "lines"


def _parse_lines(lines: Iterable[str]) -> Iterator[str]:
    for line in lines:
        line = line.strip()
        if line:
            yield line


def _parse_paragraphs(lines: Iterable[str]) -> Iterator[str]:
    paragraph = []
    for line in lines:
        if line.strip():
            paragraph.append(line.strip())
        elif paragraph:
            yield "\n".join(paragraph)
            paragraph = []
    if paragraph:
        yield "\n".join(paragraph)


def _parse_wikitext(lines: Iterable[str], unescape: bool) -> Iterator[str]:
    article = []
    for line in lines:
        line = line.strip()
        if not line:
            continue
        if _WIKITEXT_TITLE.match(line):
            if article:
                yield "\n".join(article)
            article = []  # The title itself is dropped, as for WikiExtractor.
            continue
        heading = _WIKITEXT_HEADING.match(line)
        if heading:
            line = heading.group(2)
        if unescape:
            line = _WIKITEXT_ESCAPE.sub(r"\1", line)
        article.append(line)
    if article:
        yield "\n".join(article)


def _parse_wikiextractor(lines: Iterable[str]) -> Iterator[str]:
    body = None
    title_pending = False
    for line in lines:
        stripped = line.strip()
        if body is None:
            if stripped.startswith("<doc "):
                body, title_pending = [], True
            continue
        if stripped == "</doc>":
            yield "\n".join(body)
            body = None
            continue
        if title_pending:
            if stripped:
                title_pending = False  # The first non-blank line repeats the title.
            continue
        if stripped:
            body.append(stripped)
    if body:
        # An unterminated last <doc> (a truncated dump) still counts.
        yield "\n".join(body)


def _parse_imdb_review(text: str) -> str:
    return " ".join(_IMDB_BREAK.sub(" ", text).split())


def _parse_text_stream(
    stream: IO[bytes], name: str, fmt: str, stats: ReadStats, wikitext_unescape: bool
) -> Iterator[str]:
    if fmt == "auto":
        buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
        head = buffered.peek(4096)
        first = next((ln.lstrip() for ln in head.splitlines() if ln.strip()), b"")
        fmt = _guess_text_format(name, first)
        stream = buffered
    lines = _lines(stream, stats)
    if fmt in ("lines", "ptb"):
        return _parse_lines(lines)
    if fmt == "paragraphs":
        return _parse_paragraphs(lines)
    if fmt == "wikitext":
        return _parse_wikitext(lines, wikitext_unescape)
    if fmt == "wikiextractor":
        return _parse_wikiextractor(lines)
    if fmt == "imdb":
        return iter([_parse_imdb_review(decode_utf8(stream.read(), stats))])
    raise ValueError(f"Unknown format {fmt!r}; expected one of {FORMATS}.")


def _walk_files(root: str) -> list[str]:
    found = []
    for directory, subdirs, files in os.walk(root):
        subdirs.sort()
        for name in sorted(files):
            if not name.startswith("."):
                found.append(os.path.join(directory, name))
    return found


def _imdb_selected(relative: str, subsets: Optional[Sequence[str]]) -> bool:
    if not _IMDB_MEMBER.search(relative):
        return False
    if subsets is None:
        return True
    parts = relative.split("/")
    return any("/".join(parts[-3:-1]) == s.strip("/") for s in subsets)


class CorpusReader:
    """A re-iterable corpus: every `iter()` reads the path again from the start.

    Args:
        path: file, directory or tar archive (see the module docstring).
        format: one of `"auto"`, `"lines"`, `"paragraphs"`, `"ptb"`, `"wikitext"`,
            `"wikiextractor"`, `"imdb"`.
        imdb_subsets: for IMDB, which `split/label` folders to read, e.g.
            `("train/unsup",)`; `None` reads every `pos`, `neg` and `unsup` folder.
        wikitext_unescape: turn WikiText's ` @-@ `, ` @,@ `, ` @.@ ` back into
            `-`, `,`, `.` so that `1 @,@ 000` is one number again.
        allow_empty: if False (default), a pass that yields no document raises
            `ValueError("corpus ... is empty")`.

    Attributes:
        stats: the `ReadStats` of the current (or last) pass.

    Raises:
        FileNotFoundError: at construction, if `path` does not exist.
        ValueError: at construction for an unknown format; at the end of a pass that
            found no documents.

    Example:
    ```python
    reader = CorpusReader("wikitext-2/wiki.valid.tokens.xz")
    for document in reader:
        ...
    reader.stats.documents, reader.stats.replaced_characters
    ```
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        format: str = "auto",
        imdb_subsets: Optional[Sequence[str]] = None,
        wikitext_unescape: bool = True,
        allow_empty: bool = False,
    ):
        path = os.fspath(path)
        if format not in FORMATS:
            raise ValueError(f"Unknown format {format!r}; expected one of {FORMATS}.")
        if not os.path.exists(path):
            raise FileNotFoundError(f"Corpus path {path!r} does not exist.")
        self.path = path
        self.format = format
        self.imdb_subsets = tuple(imdb_subsets) if imdb_subsets is not None else None
        self.wikitext_unescape = wikitext_unescape
        self.allow_empty = allow_empty
        self.stats = ReadStats()

    def __repr__(self):
        return f"CorpusReader({self.path!r}, format={self.format!r})"

    def __iter__(self) -> Iterator[str]:
        self.stats = ReadStats()
        return self.iterate(self.stats)

    def iterate(self, stats: ReadStats) -> Iterator[str]:
        """Reads one pass, counting into `stats` (which becomes `self.stats`)."""
        self.stats = stats
        for document in self._documents(stats):
            if not document.strip():
                stats.empty_documents += 1
                continue
            stats.documents += 1
            yield document
        if stats.documents == 0 and not self.allow_empty:
            raise ValueError(
                f"corpus {self.path!r} (format={self.format!r}) is empty: "
                f"{stats.files} file(s), {stats.bytes} bytes, no documents."
            )

    def _documents(self, stats: ReadStats) -> Iterator[str]:
        if os.path.isdir(self.path):
            yield from self._directory_documents(stats)
        elif _is_archive(self.path):
            yield from self._archive_documents(stats)
        else:
            stats.files += 1
            with open_binary(self.path) as stream:
                yield from _parse_text_stream(
                    stream, self.path, self.format, stats, self.wikitext_unescape
                )

    def _is_imdb(self, relatives: Sequence[str]) -> bool:
        if self.format == "imdb":
            return True
        return self.format == "auto" and any(_IMDB_MEMBER.search(r) for r in relatives)

    def _directory_documents(self, stats: ReadStats) -> Iterator[str]:
        files = _walk_files(self.path)
        # Absolute paths, so that `aclImdb/train` or `aclImdb/train/pos` still show the
        # split/label folders the IMDB layout is recognised by.
        relatives = [os.path.abspath(f).replace(os.sep, "/") for f in files]
        imdb = self._is_imdb(relatives)
        for full, relative in zip(files, relatives):
            if imdb:
                if not _imdb_selected(relative, self.imdb_subsets):
                    continue
                fmt = "imdb"
            else:
                fmt = self.format
            stats.files += 1
            with open_binary(full) as stream:
                yield from _parse_text_stream(
                    stream, full, fmt, stats, self.wikitext_unescape
                )

    def _archive_documents(self, stats: ReadStats) -> Iterator[str]:
        # "r|*" streams the archive front to back without seeking, so an .xz archive
        # is decompressed exactly once.
        with tarfile.open(self.path, mode="r|*") as archive:
            imdb = None
            for member in archive:
                if not member.isfile():
                    continue
                name = member.name
                base = os.path.basename(name)
                if base.startswith("."):
                    continue
                if imdb is None:
                    # Decided on the first file: a streamed archive cannot look ahead,
                    # and the IMDB tarballs start with `aclImdb/README`.
                    imdb = self.format == "imdb" or (
                        self.format == "auto"
                        and (
                            _IMDB_MEMBER.search(name) is not None
                            or name.startswith("aclImdb/")
                            or "/aclImdb/" in name
                        )
                    )
                if imdb:
                    if not _imdb_selected(name, self.imdb_subsets):
                        continue
                    fmt = "imdb"
                else:
                    fmt = self.format
                stream = archive.extractfile(member)
                if stream is None:
                    continue
                stats.files += 1
                with stream:
                    yield from _parse_text_stream(
                        stream, name, fmt, stats, self.wikitext_unescape
                    )


def iter_documents(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    stats: Optional[ReadStats] = None,
    imdb_subsets: Optional[Sequence[str]] = None,
    wikitext_unescape: bool = True,
    allow_empty: bool = False,
) -> Iterator[str]:
    """Streams the documents of a corpus.

    The path is checked immediately (not on the first `next()`), so a missing corpus
    fails where it is named.

    Args:
        path: file, directory or tar archive (see the module docstring).
        format: see `CorpusReader`.
        stats: optional `ReadStats` to fill while iterating (it is reset first).
        imdb_subsets: see `CorpusReader`.
        wikitext_unescape: see `CorpusReader`.
        allow_empty: see `CorpusReader`.

    Returns:
        An iterator of non-empty document strings.

    Raises:
        FileNotFoundError: if `path` does not exist.
        ValueError: for an unknown format, or (when iteration ends) an empty corpus.

    Example:
    ```python
    stats = ReadStats()
    for doc in iter_documents("aclImdb_train_unsup.tar.gz", stats=stats):
        ...
    print(stats.documents, stats.replaced_characters)
    ```
    """
    reader = CorpusReader(
        path,
        format=format,
        imdb_subsets=imdb_subsets,
        wikitext_unescape=wikitext_unescape,
        allow_empty=allow_empty,
    )

    if stats is None:
        return iter(reader)
    for field in dataclasses.fields(ReadStats):
        setattr(stats, field.name, 0)
    return reader.iterate(stats)
