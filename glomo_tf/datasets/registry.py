"""The project's data sets: where each lives under `data_dir()`, its checksums, its source.

Each `DataSetEntry` names

- `files`: the staged copies (paths relative to `data_dir()`, with SHA-256 from the
  staged folder's `SHA256SUMS`), the form the project's shared data folder holds;
- `upstream`: the original release, when one can be downloaded: a URL, its SHA-256
  where one is published (`None` otherwise: the download is then not verified and says
  so), and either the file name to store it as or the archive members to extract.

`fetch(name)` returns the entry's folder when its staged files, or the files its
upstream download produces, are there; otherwise it downloads the upstream release.
Checksums of files already present are only checked with `verify=True` (hashing
100 MB on every load is slow); downloads are always checked.

Example:

>>> folder = fetch("sst2")  # doctest: +SKIP
>>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
['dev.tsv.xz', 'test.tsv.xz', 'train.tsv.xz']
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tarfile
import zipfile
from pathlib import Path

from glomo_tf.datasets.data_dir import data_dir
from glomo_tf.datasets.download import download
from glomo_tf.files.atomic_write import atomic_write
from glomo_tf.files.sha256 import sha256_of


@dataclasses.dataclass(frozen=True)
class DataFile:
    """One staged file: `path` relative to `data_dir()` and its SHA-256."""

    path: str
    sha256: str


@dataclasses.dataclass(frozen=True)
class Upstream:
    """One upstream download.

    Attributes:
        url: where the release lives.
        sha256: its published digest, or `None` when none is published.
        save_as: path (relative to `data_dir()`) to store the download under.
        members: for archives, `{member path suffix: path relative to data_dir()}`;
            the archive is kept at `save_as` and these members are extracted.
    """

    url: str
    sha256: str | None
    save_as: str
    members: tuple[tuple[str, str], ...] = ()

    def outputs(self) -> tuple[str, ...]:
        """The files this download leaves for the loaders."""
        return tuple(dst for _, dst in self.members) if self.members else (self.save_as,)


@dataclasses.dataclass(frozen=True)
class DataSetEntry:
    name: str
    folder: str
    description: str
    files: tuple[DataFile, ...] = ()
    upstream: tuple[Upstream, ...] = ()


_IMDB_UPSTREAM = Upstream(
    url="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
    sha256="c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
    save_as="imdb/aclImdb_v1.tar.gz",
)
_SQUAD = "https://rajpurkar.github.io/SQuAD-explorer/dataset"
_MNLI_ZIP = "https://cims.nyu.edu/~sbowman/multinli/multinli_1.0.zip"
_SNLI_ZIP = "https://nlp.stanford.edu/projects/snli/snli_1.0.zip"
_ESNLI_RAW = (
    "https://raw.githubusercontent.com/OanaMariaCamburu/e-SNLI/"
    "7b585a3f077fdea899780eb0473940522ae44a2e/dataset/eSNLI"
)

REGISTRY: dict[str, DataSetEntry] = {
    entry.name: entry
    for entry in [
        DataSetEntry(
            "imdb",
            "imdb",
            "IMDB Large Movie Review v1.0, labelled train/test (Maas et al. 2011)",
            (
                DataFile(
                    "imdb/aclImdb_labeled_train_test.tar.gz",
                    "6041bdf01c6731c1190e0bfde0b1ebf039f283f1502c5b940cf883f7f7a34bde",
                ),
            ),
            (_IMDB_UPSTREAM,),
        ),
        DataSetEntry(
            "imdb-unsup",
            "imdb",
            "IMDB Large Movie Review v1.0, the 50,000 unlabelled train reviews",
            (
                DataFile(
                    "imdb/aclImdb_train_unsup.tar.gz",
                    "ccfa383544d159d27be147cc3c1d5e7b1c3435cc88e14cadda531771c9d04a7c",
                ),
            ),
            (_IMDB_UPSTREAM,),
        ),
        DataSetEntry(
            "ptb",
            "ptb",
            "Penn Treebank, Mikolov preprocessing (simple-examples)",
            tuple(
                DataFile(f"ptb/ptb.{split}.txt.xz", digest)
                for split, digest in [
                    ("train", "aa7c7ac769e4614f02494a5c0426d7fc5226ba2c96cec8f897d7af9ff5d6945b"),
                    ("valid", "db806f69dbaa34525f88b45b027965d4acf3e8ae3e238fe856b0802d75799a6e"),
                    ("test", "a97f11d96f2e0690356d55a720f1c01d1745586cbc687fc4f609d6cd49ea4930"),
                ]
            ),
            (
                Upstream(
                    "http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz",
                    None,
                    "ptb/simple-examples.tgz",
                    tuple(
                        (f"data/ptb.{s}.txt", f"ptb/ptb.{s}.txt") for s in ("train", "valid", "test")
                    ),
                ),
            ),
        ),
        DataSetEntry(
            "wikitext-2",
            "wikitext-2",
            "WikiText-2 v1, tokenized (Merity et al. 2016)",
            tuple(
                DataFile(f"wikitext-2/wiki.{split}.tokens.xz", digest)
                for split, digest in [
                    ("train", "7f5b03a0219b81adcc680f2d8bd24b7b3f19e4a01ac52f9533ca18cc807ac2bd"),
                    ("valid", "1322771e23310248961e17b3c55df138cd3e5c57f2e36ac1d131e9c6158ccd74"),
                    ("test", "306c08b989e77ca6d5587c58d90bf8f8fa3be85671b0eda75315de9f68584fbe"),
                ]
            ),
            (
                Upstream(
                    "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-v1.zip",
                    None,
                    "wikitext-2/wikitext-2-v1.zip",
                    tuple(
                        (f"wikitext-2/wiki.{s}.tokens", f"wikitext-2/wiki.{s}.tokens")
                        for s in ("train", "valid", "test")
                    ),
                ),
            ),
        ),
        DataSetEntry(
            "wikipedia",
            "wikipedia",
            "English Wikipedia (May 2015), WikiExtractor output, first ~30k articles; "
            "from jason-feng/wikiVisual, no downloadable upstream",
            (
                DataFile(
                    "wikipedia/enwiki_wikiextractor_jason-feng-wikiVisual.tar.xz",
                    "18114caef5a096d1c1b74b6e11a64a25a520d4b16737dcf649b9795750aaeb00",
                ),
            ),
        ),
        DataSetEntry(
            "squad-dev",
            "squad_v1.1",
            "SQuAD v1.1 dev (Rajpurkar et al. 2016)",
            (
                DataFile(
                    "squad_v1.1/dev-v1.1.json.xz",
                    "bcb85e5688156af65c503458ad5f8eb01ad52e7ab56460c1199e92ed00331ac5",
                ),
            ),
            (
                Upstream(
                    f"{_SQUAD}/dev-v1.1.json",
                    "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
                    "squad_v1.1/dev-v1.1.json",
                ),
            ),
        ),
        DataSetEntry(
            "squad-train",
            "squad_v1.1",
            "SQuAD v1.1 train (not staged; published MD5 981b29407e0affa3b1b156f72073b945, "
            "no SHA-256 pinned)",
            (),
            (Upstream(f"{_SQUAD}/train-v1.1.json", None, "squad_v1.1/train-v1.1.json"),),
        ),
        DataSetEntry(
            "mnli-dev-matched",
            "mnli",
            "MultiNLI 1.0 dev-matched, generative-nli jsonl copy (premise/hypothesis/label)",
            (
                DataFile(
                    "mnli/mnli_dev_matched.generative-nli.jsonl.xz",
                    "df2e00057db1ca7e3dc0d9692aa0ffbcc154d5afdbe26a92ea3bc11e6134251a",
                ),
            ),
            (
                Upstream(
                    _MNLI_ZIP,
                    None,
                    "mnli/multinli_1.0.zip",
                    (("multinli_1.0_dev_matched.jsonl", "mnli/multinli_1.0_dev_matched.jsonl"),),
                ),
            ),
        ),
        DataSetEntry(
            "mnli",
            "mnli",
            "MultiNLI 1.0 release jsonl: train, dev-matched, dev-mismatched (not staged)",
            (),
            (
                Upstream(
                    _MNLI_ZIP,
                    None,
                    "mnli/multinli_1.0.zip",
                    tuple(
                        (f"multinli_1.0_{s}.jsonl", f"mnli/multinli_1.0_{s}.jsonl")
                        for s in ("train", "dev_matched", "dev_mismatched")
                    ),
                ),
            ),
        ),
        DataSetEntry(
            "snli-dev",
            "snli",
            "SNLI 1.0 dev, generative-nli jsonl copy (premise/hypothesis/label)",
            (
                DataFile(
                    "snli/snli_dev.generative-nli.jsonl.xz",
                    "74ab9f3707b7b6513c0239a7f7818bf0b0534fe84266d7dcffa16db8de34b09c",
                ),
            ),
            (
                Upstream(
                    _SNLI_ZIP,
                    None,
                    "snli/snli_1.0.zip",
                    (("snli_1.0_dev.jsonl", "snli/snli_1.0_dev.jsonl"),),
                ),
            ),
        ),
        DataSetEntry(
            "snli",
            "snli",
            "SNLI 1.0 release jsonl: train, dev, test (not staged)",
            (),
            (
                Upstream(
                    _SNLI_ZIP,
                    None,
                    "snli/snli_1.0.zip",
                    tuple(
                        (f"snli_1.0_{s}.jsonl", f"snli/snli_1.0_{s}.jsonl")
                        for s in ("train", "dev", "test")
                    ),
                ),
            ),
        ),
        DataSetEntry(
            "esnli",
            "snli",
            "e-SNLI tokenized SNLI dev/test (s1/s2/labels), OanaMariaCamburu/e-SNLI",
            (
                DataFile(
                    "snli/esnli_tokenized_snli_dev_test.tar.xz",
                    "84187e15402d2a4475a6ad9c7640deead6839daa520862f5ad19f225d2c91f2d",
                ),
            ),
            tuple(
                Upstream(f"{_ESNLI_RAW}/{part}.{split}", None, f"snli/eSNLI/{part}.{split}")
                for split in ("dev", "test")
                for part in ("s1", "s2", "labels")
            ),
        ),
        DataSetEntry(
            "sst2",
            "sst2",
            "SST-2, GLUE version (train 67,349 / dev 872 / test 1,821 unlabelled)",
            tuple(
                DataFile(f"sst2/{split}.tsv.xz", digest)
                for split, digest in [
                    ("train", "d9ce70a15cd9544d2a035fa9639d404314f0c7d95fa4a737ae6c2b62162fd402"),
                    ("dev", "10259db6f6ebc89c4872544e51d2406e30362b6a231e535f30e801a1ce7ef072"),
                    ("test", "08102b175eedff39ea605f2bb92ca4284ccd44c5eb376474a52f7ccd3e84081e"),
                ]
            ),
            (
                Upstream(
                    "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip",
                    None,
                    "sst2/SST-2.zip",
                    tuple((f"SST-2/{s}.tsv", f"sst2/{s}.tsv") for s in ("train", "dev", "test")),
                ),
            ),
        ),
        DataSetEntry(
            "elmo-fixtures",
            "elmo",
            "ELMo test fixtures of allenai/bilm-tf and allenai/allennlp (tiny biLM); "
            "no downloadable upstream archive",
            (
                DataFile(
                    "elmo/bilm-tf_fixtures.tar.gz",
                    "5a738ed846a2782c26f7292e6b3d0ac5271ce3401c3d799813ad097c08274e41",
                ),
                DataFile(
                    "elmo/allennlp_fixtures.tar.gz",
                    "d8d6e4fd8189587e3f9397c31784bc5633a6e4fd73e368aa96108a57196f5708",
                ),
            ),
        ),
        DataSetEntry(
            "ud-english-ewt-dev",
            "ud_english_ewt",
            "Universal Dependencies English-EWT r2.16 dev, gold trees in CoNLL-U "
            "(glomo evaluate)",
            (
                DataFile(
                    "ud_english_ewt/en_ewt-ud-dev.conllu.xz",
                    "343a1f0431c7eb0f7cf51f4d60d5d2b59dc0c94d26a4cd2fd4d4ab9c6af2dae4",
                ),
            ),
            (
                Upstream(
                    "https://raw.githubusercontent.com/UniversalDependencies/UD_English-EWT/"
                    "r2.16/en_ewt-ud-dev.conllu",
                    "531a54ff90d6ab12201c5a50c3e78e6ddac4de69abc4bce5d275d3cd29efe2b6",
                    "ud_english_ewt/en_ewt-ud-dev.conllu",
                ),
            ),
        ),
    ]
}


def get_entry(name: str) -> DataSetEntry:
    """Returns the registry entry `name`, or raises a `ValueError` listing the names."""
    if name not in REGISTRY:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(REGISTRY)}")
    return REGISTRY[name]


def _all_exist(root: Path, paths) -> bool:
    paths = tuple(paths)
    return bool(paths) and all((root / p).is_file() for p in paths)


def _extract_members(archive: Path, members, root: Path) -> None:
    """Extracts the archive members whose names end with each wanted suffix."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            opener = zf.open
            _copy_members(archive, names, opener, members, root)
    else:
        with tarfile.open(archive) as tf:
            names = [m.name for m in tf.getmembers() if m.isfile()]
            _copy_members(archive, names, tf.extractfile, members, root)


def _copy_members(archive, names, opener, members, root: Path) -> None:
    for suffix, dst in members:
        matches = [n for n in names if n == suffix or n.endswith("/" + suffix)]
        if not matches:
            raise ValueError(f"{archive} has no member ending in {suffix!r}")
        target = root / dst
        target.parent.mkdir(parents=True, exist_ok=True)
        with opener(matches[0]) as src, atomic_write(target, "wb") as out:
            shutil.copyfileobj(src, out)


def fetch(
    name: str, verify: bool = False, root: str | os.PathLike | None = None, progress: bool = True
) -> Path:
    """Returns the local folder of data set `name`, downloading it when it is missing.

    Args:
        name: a key of `REGISTRY`.
        verify: also check the SHA-256 of staged files already present.
        root: the data folder; default `data_dir()`.
        progress: show download progress bars.

    Returns:
        `root / entry.folder`, holding the staged files or the upstream files.

    Raises:
        ValueError: unknown name, or a checksum mismatch.
        FileNotFoundError: the files are missing and the data set has no upstream URL.
        ConnectionError: the files are missing and the download failed (offline).
    """
    entry = get_entry(name)
    root = Path(root) if root is not None else data_dir()
    folder = root / entry.folder
    if _all_exist(root, (f.path for f in entry.files)):
        if verify:
            for f in entry.files:
                actual = sha256_of(root / f.path)
                if actual != f.sha256:
                    raise ValueError(
                        f"SHA-256 mismatch for {root / f.path}: expected {f.sha256}, got {actual}"
                    )
        return folder
    if _all_exist(root, (out for up in entry.upstream for out in up.outputs())):
        return folder
    if not entry.upstream:
        wanted = ", ".join(str(root / f.path) for f in entry.files)
        raise FileNotFoundError(
            f"data set {name!r} is not in {root} and has no download URL; expected {wanted} "
            f"(set GLOMO_DATA_DIR to the folder that holds it)"
        )
    for up in entry.upstream:
        if _all_exist(root, up.outputs()):
            continue
        archive = root / up.save_as
        if not archive.is_file():
            try:
                download(up.url, archive, up.sha256, progress=progress)
            except ConnectionError as err:
                raise ConnectionError(
                    f"data set {name!r} is not in {root} and could not be downloaded: {err} "
                    f"(set GLOMO_DATA_DIR to a folder that holds it)"
                ) from err
        if up.members:
            _extract_members(archive, up.members, root)
    return folder
