"""`glomo presets`: the bundled graph modules, with their model cards (`glomo_tf.presets`).

For the CLI's subcommand registry: `add_parser(subparsers)` adds `presets`, `run(args)`
prints and returns 0. No TensorFlow: it only reads the modules' JSON config and model card.
"""

from glomo_tf.presets import list_presets, preset_path


def add_parser(subparsers):
    """Adds `presets` to the `glomo` subcommands; returns its parser."""
    parser = subparsers.add_parser(
        "presets", help="list the bundled graph modules (usable by name) with their model cards",
        description="Lists the graph modules shipped with glomo_tf. Their names stand for a "
                    "module directory wherever one is taken (glomo graphs, glomo finetune "
                    "--graphs, glomo demo --module, GLoMoGraphs.from_preset, "
                    "load_graph_module). With NAME: that module's whole model card.")
    parser.add_argument("name", nargs="?", default=None, help="show this module's model card")
    parser.set_defaults(func=run, command="presets")
    return parser


def run(args):
    """Prints the presets (or one model card); returns 0."""
    if args.name is not None:
        path = preset_path(args.name)  # an unknown name lists the known ones
        preset = list_presets()[args.name]
        print(f"{preset.name}: {path}\n")
        print(preset.model_card.rstrip())
        return 0
    presets = list_presets()
    if not presets:
        print("No bundled graph modules found (glomo_tf/saved_models is missing).")
        return 0
    for preset in presets.values():
        print(f"{preset.name}  ({preset.shape})\n  {preset.path}\n  {preset.summary}\n")
    print("Use a name wherever a module path is taken; 'glomo presets NAME' shows its model card.")
    return 0
