"""Bundled graph modules by name ("presets", keras-hub's word): `glomo_planted_tiny`, ...

The modules are committed under the repository's `saved_models/` and shipped in the wheel as
package data (`glomo_tf/saved_models/`, see `pyproject.toml`), so a name works after a plain
`pip install .` as well as in a source checkout or an editable install. Wherever a module
path is taken (`load_graph_module`, `GLoMoGraphs`, `glomo graphs`, `glomo finetune
--graphs`, `glomo demo --module`, `glomo tune --graphs`) a preset name may stand instead.

No TensorFlow here: names resolve (and unknown ones fail) before TensorFlow is imported.

Example:
>>> from glomo_tf import presets
>>> "glomo_planted_tiny" in presets.list_presets()
True
>>> presets.resolve_module("glomo_planted_tiny") == presets.preset_path("glomo_planted_tiny")
True
"""

import dataclasses
import json
import os
import re

_PACKAGE = os.path.dirname(os.path.abspath(__file__))
# The installed package data first; then the source tree (checkout or editable install).
SEARCH_PATH = (os.path.join(_PACKAGE, "saved_models"),
               os.path.join(os.path.dirname(_PACKAGE), "saved_models"))
MODEL_CARD = "MODEL_CARD.md"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


class UnknownPresetError(FileNotFoundError, ValueError):
    """A name that is neither a bundled module nor an existing path (lists the known ones).

    Both a `FileNotFoundError` (what a missing module path raises) and a `ValueError` (what
    keras-hub's `from_preset` raises for an unknown name).
    """


@dataclasses.dataclass(frozen=True)
class Preset:
    """One bundled module.

    Attributes:
        name: its name (the directory's).
        path: the module directory.
        config: its `assets/glomo_module.json` (dict).
        model_card: the text of its `MODEL_CARD.md`.
    """

    name: str
    path: str
    config: dict
    model_card: str

    @property
    def summary(self):
        """The model card's first paragraph after the title, on one line."""
        paragraphs = [p for p in self.model_card.split("\n\n") if p.strip()]
        body = [p for p in paragraphs if not p.lstrip().startswith("#")]
        return " ".join(body[0].split()) if body else ""

    @property
    def shape(self):
        """`d 32, L 2, K 4, vocabulary 88`: the module's size in the paper's letters."""
        c = self.config
        return (f"d {c.get('hidden_dim')}, L {c.get('num_layers')}, K {c.get('num_heads')}, "
                f"vocabulary {c.get('vocabulary_size')}")


def _read_preset(name, path):
    with open(os.path.join(path, "assets", "glomo_module.json"), encoding="utf-8") as f:
        config = json.load(f)
    with open(os.path.join(path, MODEL_CARD), encoding="utf-8") as f:
        card = f.read()
    return Preset(name, path, config, card)


def list_presets():
    """`{name: Preset}` of every bundled module (a complete module with a model card)."""
    found = {}
    for root in SEARCH_PATH:
        if not os.path.isdir(root):
            continue
        for name in sorted(os.listdir(root)):
            path = os.path.join(root, name)
            if name not in found and all(
                    os.path.isfile(os.path.join(path, part))
                    for part in ("saved_model.pb", MODEL_CARD,
                                 os.path.join("assets", "glomo_module.json"))):
                found[name] = _read_preset(name, path)
    return found


def _unknown(name, known):
    listed = ", ".join(sorted(known)) or "none installed"
    return UnknownPresetError(
        f"{name!r} is neither a graph module directory nor a bundled preset (known presets: "
        f"{listed}; `glomo presets` shows their model cards).")


def preset_path(name):
    """The directory of the bundled module `name`; `UnknownPresetError` lists the known ones."""
    known = list_presets()
    if name not in known:
        raise _unknown(name, known)
    return known[name].path


def looks_like_name(handle):
    """True for a bare name (`glomo_wiki`), False for paths and URLs."""
    return bool(_NAME.fullmatch(handle)) and "://" not in handle


def resolve_module(handle):
    """A module path for a path, TF-Hub URL or preset name (paths win over names).

    Returns an existing path or a URL unchanged, a preset name as its directory. A bare
    name that is neither raises `UnknownPresetError` (listing the presets); any other
    missing path is returned as it is, for the loader to report.
    """
    handle = os.fspath(handle)
    if os.path.exists(handle) or not looks_like_name(handle):
        return handle
    return preset_path(handle)
