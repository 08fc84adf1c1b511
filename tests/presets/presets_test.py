"""Bundled modules by name: `glomo_tf.presets`, `GLoMoGraphs.from_preset`, `glomo presets`,
and the wheel: installed into a fresh venv, it still finds them."""

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import pytest

from glomo_tf import presets
from glomo_tf.cli import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUNDLED = ("glomo_planted_tiny", "glomo_wiki", "glomo_wiki_30m")


def test_the_bundled_modules_are_presets_with_model_cards():
    found = presets.list_presets()
    assert set(BUNDLED) <= set(found)
    planted = found["glomo_planted_tiny"]
    assert os.path.isfile(os.path.join(planted.path, "saved_model.pb"))
    assert planted.config["format_version"] == 1
    assert planted.summary and not planted.summary.startswith("#") and "\n" not in planted.summary
    assert planted.shape == "d 32, L 2, K 4, vocabulary 88"
    assert planted.model_card.startswith("# glomo_planted_tiny")


def test_names_resolve_and_paths_urls_pass_through(tmp_path, monkeypatch):
    path = presets.preset_path("glomo_planted_tiny")
    assert presets.resolve_module("glomo_planted_tiny") == path
    for handle in (str(tmp_path), "https://tfhub.dev/x/y/1", str(tmp_path / "missing"),
                   os.path.join("relative", "missing")):
        assert presets.resolve_module(handle) == handle
    # A directory of that name in the working directory wins over the preset.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "glomo_planted_tiny").mkdir()
    assert presets.resolve_module("glomo_planted_tiny") == "glomo_planted_tiny"


def test_an_unknown_name_lists_the_known_ones():
    for call in (presets.preset_path, presets.resolve_module):
        with pytest.raises(presets.UnknownPresetError) as caught:
            call("glomo_nonexistent")
        message = str(caught.value)
        assert all(name in message for name in BUNDLED) and "glomo presets" in message
    # Callers that catch either (keras-hub's ValueError, a missing path's FileNotFoundError).
    assert issubclass(presets.UnknownPresetError, ValueError)
    assert issubclass(presets.UnknownPresetError, FileNotFoundError)


def test_from_preset_and_load_graph_module_take_a_name():
    import numpy as np

    from glomo_tf.export.graph_module import check_module_directory, load_graph_module
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    layer = GLoMoGraphs.from_preset("glomo_planted_tiny")
    # The name, not this machine's path, is what a saved model keeps.
    assert layer.get_config()["handle"] == "glomo_planted_tiny"
    assert layer.vocabulary_size == presets.list_presets()["glomo_planted_tiny"].config[
        "vocabulary_size"]
    graphs = np.asarray(layer(np.array(["a b c"]))["graphs"])
    assert graphs.shape[:4] == (1, 2, 2, 4)
    assert load_graph_module("glomo_planted_tiny").config == layer.module_config
    assert check_module_directory("glomo_planted_tiny")["format_version"] == 1
    with pytest.raises(ValueError, match="glomo_wiki"):
        GLoMoGraphs.from_preset("glomo_nope")


def test_glomo_presets_lists_names_and_shows_a_model_card(capsys):
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BUNDLED)
    assert main(["presets", "glomo_wiki"]) == 0
    assert "# glomo_wiki\n" in capsys.readouterr().out
    assert main(["presets", "glomo_nope"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glomo presets: error:") and "glomo_planted_tiny" in err[0]


def test_the_cli_takes_a_preset_name_and_reports_a_wrong_one_before_tensorflow(tmp_path):
    # A fresh interpreter: whether TensorFlow got imported is the point.
    code = textwrap.dedent("""
        import sys
        from glomo_tf.cli import main
        codes = [main(["graphs", "glomo_nope", "text"]),
                 main(["finetune", "--task", "sst2", "--graphs", "glomo_nope"]),
                 main(["demo", "--module", "glomo_nope"])]
        print(codes, "tensorflow" in sys.modules)
        """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": REPO}, timeout=120)
    assert done.stdout.split("]")[-1].strip() == "False", done.stderr
    assert done.stdout.startswith("[2, 2, 2]")
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 3 and all("known presets: glomo_planted_tiny" in line for line in lines)


def _source_tree(destination):
    """What a wheel is built from (no caches, no build outputs of the working tree)."""
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(os.path.join(REPO, name), destination)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("glomo_tf", "saved_models"):
        shutil.copytree(os.path.join(REPO, name), os.path.join(destination, name), ignore=ignore)


@pytest.mark.slow
def test_a_wheel_in_a_fresh_venv_loads_a_preset_by_name(tmp_path):
    source, dist, venv = tmp_path / "source", tmp_path / "dist", tmp_path / "venv"
    source.mkdir()
    _source_tree(source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    # Offline-safe: this environment's setuptools when there is one, else pip's isolated build.
    isolation = ["--no-build-isolation"] if importlib.util.find_spec("setuptools") else []
    built = subprocess.run(pip + ["wheel", "--no-deps", "-q", "-w", str(dist), str(source)]
                           + isolation, capture_output=True, text=True, timeout=600)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = dist.glob("glomo_tf-*.whl")

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    # TensorFlow & co. from this environment (a plain path entry: this environment's
    # editable-install hook, a .pth of its own, is not run), glomo_tf from the wheel only.
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    with open(os.path.join(site, "_test_dependencies.pth"), "w", encoding="utf-8") as f:
        f.write("\n".join(sorted(ours)) + "\n")
    installed = subprocess.run(pip + ["--python", str(python), "install", "--no-deps", "-q",
                                      str(wheel)], capture_output=True, text=True, timeout=600)
    assert installed.returncode == 0, installed.stderr[-3000:]

    environment = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    code = textwrap.dedent("""
        import numpy as np
        import glomo_tf
        from glomo_tf.transfer.glomo_graphs import GLoMoGraphs
        layer = GLoMoGraphs.from_preset("glomo_planted_tiny")
        print(glomo_tf.__file__)
        print(layer._graph_module.path)
        print(np.asarray(layer(np.array(["a b"]))["graphs"]).shape[:2])
        """)
    done = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, env=environment, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    package_file, module_path, shape = done.stdout.strip().splitlines()[-3:]
    assert package_file.startswith(site) and module_path.startswith(site)
    assert module_path.endswith(os.path.join("glomo_tf", "saved_models", "glomo_planted_tiny"))
    assert shape == "(1, 2)"
    listed = subprocess.run([str(venv / "bin" / "glomo"), "presets"], capture_output=True,
                            text=True, cwd=tmp_path, env=environment, timeout=120)
    assert listed.returncode == 0 and "glomo_wiki" in listed.stdout, listed.stderr
