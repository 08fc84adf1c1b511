"""bench/transfer.py's bookkeeping: which recorded runs fill which table, and the table itself."""

import os
import re
import shutil

from bench import transfer

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PLANTED = os.path.join(REPO, "saved_models", "glomo_planted_tiny")
BUDGET = transfer.BUDGETS["smoke"]["imdb"]


def _run(row, seed, accuracy, graphs, key):
    return {"row": row, "transfer": transfer.ROWS[row][0], "seed": seed, "accuracy": accuracy,
            "key": key, "graphs": graphs, "seconds": 10.0, "wall": 12.0, "skipped": {},
            "train_examples": 128, "eval_examples": 64, "validation_accuracy": 50.0}


def test_module_name_is_the_directory_and_its_weights(tmp_path):
    name = transfer.module_name(PLANTED)
    assert re.fullmatch(r"glomo_planted_tiny@[0-9a-f]{12}", name)
    assert transfer.module_name("glomo_planted_tiny") == name  # a preset name resolves
    copy = tmp_path / "glomo_planted_tiny"
    shutil.copytree(PLANTED, copy)
    assert transfer.module_name(str(copy)) == name
    with open(copy / "variables" / "variables.data-00000-of-00001", "ab") as f:
        f.write(b"\0")  # other weights under the same name: another module
    assert transfer.module_name(str(copy)) != name


def test_untrained_rows_are_shared_by_modules_of_one_config_and_vocabulary(tmp_path):
    import json

    untrained = transfer.untrained_name(PLANTED)
    assert re.fullmatch(r"untrained@[0-9a-f]{12}", untrained)
    retrained = tmp_path / "retrained"
    shutil.copytree(PLANTED, retrained)
    with open(retrained / "variables" / "variables.data-00000-of-00001", "ab") as f:
        f.write(b"\0")  # other pretrained weights, same config and vocabulary
    assert transfer.untrained_name(str(retrained)) == untrained
    config_path = retrained / "assets" / "glomo_module.json"
    config = json.loads(config_path.read_text())
    config["vocabulary_sha256"] = "0" * 64
    config_path.write_text(json.dumps(config))
    assert transfer.untrained_name(str(retrained)) != untrained

    key = transfer.budget_key("imdb", BUDGET)
    old, new = "old@000000000000", transfer.module_name(str(retrained))
    runs = [dict(_run("untrained", 0, 60.0, old, key), untrained_of=untrained),
            dict(_run("untrained", 1, 61.0, old, key), untrained_of="untrained@" + "1" * 12),
            _run("embeddings", 0, 62.0, old, key)]
    kept = transfer.matching_runs(runs, key, new, untrained)
    assert [(r["row"], r["seed"]) for r in kept] == [("untrained", 0)]
    assert transfer.matching_runs(runs, key, new) == []


def test_matching_runs_keeps_this_budget_and_this_modules_graph_rows():
    key = transfer.budget_key("imdb", BUDGET)
    assert key != transfer.budget_key("imdb", transfer.BUDGETS["full"]["imdb"])
    ours = transfer.module_name(PLANTED)
    runs = [_run("none", 0, 60.0, "other@000000000000", key),        # tokenizer only: kept
            _run("embeddings", 0, 61.0, ours, key),
            _run("embeddings", 1, 70.0, "other@000000000000", key),  # another module's graphs
            _run("none", 1, 59.0, ours, "0" * 12)]                   # another budget
    kept = transfer.matching_runs(runs, key, ours)
    assert [(r["row"], r["seed"]) for r in kept] == [("none", 0), ("embeddings", 0)]


def test_task_section_pairs_deltas_by_seed_and_marks_partial_tables():
    key = transfer.budget_key("imdb", BUDGET)
    ours = transfer.module_name(PLANTED)
    runs = [_run("none", 0, 60.0, ours, key), _run("none", 1, 62.0, ours, key),
            _run("embeddings", 0, 61.0, ours, key), _run("embeddings", 1, 65.0, ours, key),
            _run("untrained", 0, 60.5, ours, key)]
    body = transfer.task_section("imdb", runs, BUDGET, ours, [0, 1], "smoke")
    assert body.startswith("**PARTIAL**") and "done so far: 5 of 8 runs" in body
    assert "fewer than 3 seeds: feature only, uniform graph, GLoMo on embeddings, GLoMo untrained" in body
    row = next(line for line in body.splitlines() if line.startswith("| GLoMo on embeddings"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # deltas by seed: +1 and +3 -> mean +2.00, sample std 1.41; vs untrained only seed 0: +0.50
    assert cells[1] == "2" and cells[2] == "63.00 ± 2.83"
    assert cells[3] == "+2.00 ± 1.41" and cells[4] == "+0.50 (1 seed)"
    assert cells[-2:] == ["89.16", "+0.65"]
    assert ours in body and "SMOKE TEST" in body
    # mean accuracy 61.7% over the 5 runs, 64 test examples: sqrt(.617 * .383 / 64) = 6.08 points
    assert "binomial standard error at 61.7% on 64 examples is 6.08 points" in body
    assert "Resumed after a kill" not in body
    runs[2]["resumed_at_epochs"] = [4]
    body = transfer.task_section("imdb", runs, BUDGET, ours, [0, 1], "smoke")
    assert "Resumed after a kill" in body and "GLoMo on embeddings seed 0 (at epoch 5)" in body


def test_a_table_with_three_seeds_per_row_is_complete_whichever_seeds_this_invocation_ran():
    key = transfer.budget_key("imdb", BUDGET)
    ours = transfer.module_name(PLANTED)
    runs = [_run(mode, seed, 60.0 + seed, ours, key)
            for mode in transfer.MODES["imdb"] for seed in (0, 1, 2)]
    body = transfer.task_section("imdb", runs, BUDGET, ours, [2], "smoke")
    assert not body.startswith("**PARTIAL**") and "fewer than" not in body
    assert "asked for seeds [2] (done so far: 4 of 4 runs)" in body


def test_every_budget_gives_every_row_a_valid_config():
    from glomo_tf.tasks.finetune_config import FinetuneConfig

    for budget_name, budgets in transfer.BUDGETS.items():
        for task, budget in budgets.items():
            for row in transfer.MODES[task]:
                config = FinetuneConfig(task=task, transfer=transfer.ROWS[row][0],
                                        epochs=budget["epochs"],
                                        **transfer.row_overrides(budget, row))
                assert config.graphs_untrained == transfer.ROWS[row][1]


def test_how_graphs_are_delivered_is_not_part_of_a_budgets_key():
    full = transfer.BUDGETS["full"]["imdb"]
    key = transfer.budget_key("imdb", full)
    for delivery in ({"graph_cache": False}, {"propagated_cache": False}, {"graph_cache": True}):
        assert transfer.budget_key("imdb", {**full, **delivery}) == key
    assert transfer.budget_key("imdb", {**full, "max_tokens": 200}) != key
    assert "propagated candidates" in transfer.graphs_delivery(full)
    assert "graph cache" in transfer.graphs_delivery(transfer.BUDGETS["full"]["sst2"])
    assert "dense" in transfer.graphs_delivery(transfer.BUDGETS["full"]["squad"])


def test_another_modules_glomo_rows_are_shown_beside_paired_with_the_same_baselines():
    key = transfer.budget_key("imdb", BUDGET)
    ours, earlier = transfer.module_name(PLANTED), "earlier@000000000000"
    runs = [_run(mode, seed, 60.0 + seed, ours, key)
            for mode in transfer.MODES["imdb"] for seed in (0, 1, 2)]
    results = runs + [_run("embeddings", 0, 63.0, earlier, key),
                      _run("embeddings", 1, 61.0, earlier, key),
                      _run("untrained", 0, 50.0, earlier, key),       # shared by config, not shown
                      _run("embeddings", 2, 70.0, earlier, "0" * 12)]  # another budget
    compared = transfer.compared_runs(results, key, earlier)
    assert [(r["row"], r["seed"]) for r in compared] == [("embeddings", 0), ("embeddings", 1)]
    body = transfer.task_section("imdb", runs, BUDGET, ours, [0, 1, 2], "smoke",
                                 compared=[("earlier", compared)])
    assert not body.startswith("**PARTIAL**")  # two seeds of the compared module do not count
    row = next(line for line in body.splitlines() if line.startswith("| GLoMo on embeddings, `earlier`"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    # against feature-only seeds 0 and 1 (60, 61): +3 and 0; the untrained runs are the same
    assert cells[1] == "2" and cells[2] == "62.00 ± 1.41"
    assert cells[3] == "+1.50 ± 2.12" and cells[4] == "+1.50 ± 2.12"
    assert cells[-2:] == ["89.16", "+0.65"]
    assert "Rows naming a module" in body
    assert "Rows naming a module" not in transfer.task_section("imdb", runs, BUDGET, ours, [0], "smoke")
