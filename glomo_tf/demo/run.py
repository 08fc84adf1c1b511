"""`glomo demo`: pretrain on the embedded planted language, export, transfer, compare.

No download and no data directory: the planted-dependency language is generated. Steps:

1. A graph module: the bundled preset `glomo_planted_tiny` (trained by this
   very code, see its model card), or, with `pretrain=True` or when it is missing, a fresh
   `tiny` pretraining run on the synthetic corpus, exported to `OUT/module`.
2. How well its forward graphs recover the planted parents (`parent_recovery`), the layer
   and head chosen on a held-out half and scored on the other half.
3. The planted-relations task (`planted_task`): the same local classifier trained three ways,
   feature-only / uniform graph / GLoMo graphs, with identical data, budget and seed.
4. A heatmap PNG of the module's graphs on one document.
"""

import dataclasses
import os

import numpy as np

from glomo_tf.configs import GLoMoConfig, PretrainConfig
from glomo_tf.demo.planted_task import (
    TRANSFERS,
    PlantedClassifierConfig,
    build_planted_classifier,
    make_planted_task,
)
from glomo_tf.presets import list_presets
from glomo_tf.training.synthetic_corpus import make_language

BUNDLED_PRESET = "glomo_planted_tiny"


def bundled_module():
    """The directory of the bundled `glomo_planted_tiny` (`glomo_tf.presets`), or None."""
    preset = list_presets().get(BUNDLED_PRESET)
    return None if preset is None else preset.path


TRANSFER_NAMES = {"none": "feature only", "uniform": "uniform graph", "graphs": "GLoMo graphs"}


@dataclasses.dataclass
class DemoConfig:
    """Budget of the demo (the defaults fit in about 5 minutes on 2 CPU cores).

    Attributes:
        pretrain_steps: steps of `tiny` pretraining when a module is trained.
        train_examples, test_examples: size of the planted-relations task.
        epochs, batch_size: downstream training budget (the same for every transfer).
        seed: seeds the language's documents, the task and every initialisation.
        language_seed: the seed the module's pretraining corpus was generated with.
    """

    pretrain_steps: int = 1000
    train_examples: int = 2000
    test_examples: int = 1000
    epochs: int = 6
    batch_size: int = 32
    seed: int = 0
    language_seed: int = 0


@dataclasses.dataclass
class DemoResult:
    module_path: str
    recovery: float
    recovery_chance: float
    layer_head: tuple
    accuracies: dict
    heatmap_path: str

    def table(self):
        lines = ["| transfer | test accuracy |", "|---|---|"]
        lines += [f"| {TRANSFER_NAMES[t]} | {100 * a:.1f}% |" for t, a in self.accuracies.items()]
        return "\n".join(lines)


def pretrain_module(out_dir, steps, seed=0, progress=True):
    """Pretrains `tiny` on the synthetic corpus and exports `out_dir/module`."""
    from glomo_tf.export.graph_module import export_from_checkpoint
    from glomo_tf.training.pretraining import pretrain

    run_dir = os.path.join(out_dir, "pretrain")
    train = PretrainConfig.for_model("tiny", steps=steps, seed=seed)
    pretrain("synthetic", run_dir, GLoMoConfig.tiny(), train, progress=progress)
    return export_from_checkpoint(run_dir, os.path.join(out_dir, "module"))


def module_language(graph_module, language_seed):
    """The planted language `graph_module` was pretrained on (`glomo pretrain --seed language_seed`).

    Raises:
        ValueError: the module's vocabulary lacks words of that language (another corpus,
            or another seed).
    """
    config = GLoMoConfig.from_dict(graph_module.config["model_config"])
    language = make_language(config, seed=language_seed)
    missing = sorted(set(language.words) - set(graph_module.vocabulary))
    if missing:
        raise ValueError(
            f"The module at {graph_module.path} was not pretrained on the planted language "
            f"(seed {language_seed}): {len(missing)} of its words are not in the module's "
            f"vocabulary (e.g. {missing[:3]})."
        )
    return language


def measure_recovery(graph_module, language, num_documents=400, seed=0):
    """Parent recovery of the module's forward graphs: (recovery, chance, (layer, head))."""
    from glomo_tf.data.synthetic import parent_recovery

    documents, parents = language.sample(num_documents, seed=seed + 1000)
    out = graph_module.graphs([" ".join(d) for d in documents])
    graphs = np.asarray(out["graphs"])[:, 0]
    mask = np.asarray(out["mask"])
    if graphs.shape[-1] != parents.shape[1]:
        raise ValueError("The module's tokenization does not keep the planted words whole.")
    half = num_documents // 2
    chosen = parent_recovery(graphs[:half], parents[:half], mask[:half]).best_layer_head
    scored = parent_recovery(graphs[half:], parents[half:], mask[half:], layer_head=chosen)
    return scored.selected_recovery, scored.chance, tuple(int(x) for x in chosen)


def run_demo(out_dir="glomo_demo", module=None, pretrain=False, config=None, progress=True,
             log=print):
    """Runs the whole demo; returns a `DemoResult` (and writes `out_dir/graphs.png`)."""
    import keras
    import tensorflow as tf

    from glomo_tf.export.graph_module import load_graph_module
    from glomo_tf.export.graph_rendering import render_graphs
    from glomo_tf.transfer.glomo_graphs import GLoMoGraphs

    config = config or DemoConfig()
    os.makedirs(out_dir, exist_ok=True)
    if module is None:
        module = None if pretrain else bundled_module()
        if module is None:
            log(f"Pretraining `tiny` on the planted language for {config.pretrain_steps} steps ...")
            module = pretrain_module(out_dir, config.pretrain_steps, config.language_seed, progress)
    log(f"Graph module: {module}")
    graph_module = load_graph_module(module)
    language = module_language(graph_module, config.language_seed)

    recovery, chance, layer_head = measure_recovery(graph_module, language, seed=config.seed)
    log(f"Planted-parent recovery (forward layer {layer_head[0]}, head {layer_head[1]}, chosen "
        f"on held-out documents): {100 * recovery:.1f}% (chance {100 * chance:.1f}%)")

    train_texts, train_labels = make_planted_task(language, config.train_examples, config.seed)
    test_texts, test_labels = make_planted_task(language, config.test_examples, config.seed + 1)
    train_data = tf.data.Dataset.from_tensor_slices((train_texts, train_labels)).shuffle(
        len(train_texts), seed=config.seed).batch(config.batch_size)
    test_data = tf.data.Dataset.from_tensor_slices((test_texts, test_labels)).batch(256)
    graph_layer = GLoMoGraphs(module)
    accuracies = {}
    for transfer in TRANSFERS:
        keras.utils.set_random_seed(config.seed)
        model = build_planted_classifier(graph_layer, transfer, PlantedClassifierConfig(),
                                         seed=config.seed)
        # The dataset shuffles itself; Keras' default shuffle=True would only warn.
        model.fit(train_data, epochs=config.epochs, shuffle=False, verbose=2 if progress else 0)
        _, accuracy = model.evaluate(test_data, verbose=0)
        accuracies[transfer] = float(accuracy)
        log(f"{TRANSFER_NAMES[transfer]:>14}: test accuracy {100 * accuracy:.1f}%")

    heatmap = render_graphs(graph_module, str(test_texts[0]), os.path.join(out_dir, "graphs.png"))
    result = DemoResult(module, recovery, chance, layer_head, accuracies, heatmap)
    log("")
    log(result.table())
    log(f"\nHeatmaps of the graphs on a test document: {heatmap}")
    return result
