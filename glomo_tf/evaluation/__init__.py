"""Evaluating graph modules against gold syntax (`glomo evaluate`).

One concept a module:

- `treebank`: CoNLL-U reading (`read_conllu`, basic trees only), the UD English-EWT dev
  file (`fetch_ewt_dev`);
- `attachment`: directed attachment counts per (direction, layer, head), overall and per
  relation, the fixed-offset baseline's counts, live rows; selecting on one set and
  scoring on another;
- `untrained_module`: `export_untrained_like`, a module's predictor at its random
  initialisation, exported with the same tokenizer and vocabulary;
- `evaluate`: `evaluate_module` (module + treebank → the result table as a dict),
  `format_table`, `to_markdown`;
- `plotting`: one sentence's graphs with its gold arcs;
- `commands`: the `glomo evaluate` subcommand.

Submodules are imported on use: `glomo --help` must not load TensorFlow.
"""
