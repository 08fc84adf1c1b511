"""Fault injection: kill -9 during `glomo pretrain` several times, and fuzz every text entry point.

1. Kills. An uninterrupted tiny run is the reference. A second run of the same command is
   killed with SIGKILL at `--kills` random, increasing steps (polling its loss log), each time
   resumed with `--resume`; before one of the resumes the newest checkpoint is truncated, so
   the resume must fall back to the previous one. Resumes are "equal" when the final loss log
   (every step's loss) and the final checkpoint's model and optimizer variables are
   bit-identical to the reference's.
2. Fuzzing. The hypothesis checks of `tests/reliability/fuzz_test.py`, with many more
   examples: the exported module's `graphs`/`tokenize`, the corpus readers + vocabulary +
   tokenizer, the CLI with hostile strings in every argument, `glomo graphs` drawing hostile
   text. Reports the inputs tried per entry point and the failures found.

    python bench/faults.py --kills 5 --fuzz-examples 500

Timings are not the point here (the machine is shared); only counts and equalities are reported.
"""

import argparse
import collections
import os
import random
import shutil
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.training.checkpoints import CheckpointManager  # noqa: E402
from tests.reliability import fuzz_test, harness, hostile_text  # noqa: E402
from tests.training.corpus_fixtures import write_text_corpus  # noqa: E402


def kill_campaign(work, kills, steps, checkpoint_every, seed):
    rng = random.Random(seed)
    corpus = write_text_corpus(os.path.join(work, "corpus.txt"))
    reference, run = os.path.join(work, "reference"), os.path.join(work, "run")
    start = time.perf_counter()
    harness.run(harness.pretrain_argv(corpus, reference, steps, checkpoint_every))
    reference_s = time.perf_counter() - start
    # Increasing targets, each past the previous kill (the resumed run's log is cut back
    # to its checkpoint first, so a stale line can never trigger the next kill).
    targets = sorted(rng.sample(range(2, steps - 1), kills))
    killed, fallbacks, previous = [], 0, 0
    # The first resume after this many kills that has two checkpoints to choose from meets
    # a truncated newest one (with only one, there is nothing to fall back to).
    corrupt_before = kills // 2
    for index, target in enumerate(targets):
        target = max(target, previous + 1)
        manager = CheckpointManager(os.path.join(run, "checkpoints"))
        extra = ["--resume"] if manager.peek() is not None else []
        listed = manager.checkpoints()
        if fallbacks == 0 and index >= corrupt_before and len(listed) >= 2:
            model_file = os.path.join(listed[-1][1], "model.h5")
            with open(model_file, "r+b") as f:
                f.truncate(os.path.getsize(model_file) // 2)
            fallbacks += 1
        at = harness.kill_at_step(harness.pretrain_argv(corpus, run, steps, checkpoint_every, extra), run, target)
        if at is None:
            break
        killed.append(at)
        previous = at
        print(f"killed at step {at} (target {target})", flush=True)
    extra = ["--resume"] if CheckpointManager(os.path.join(run, "checkpoints")).peek() is not None else []
    harness.run(harness.pretrain_argv(corpus, run, steps, checkpoint_every, extra))
    losses_equal, weights_equal, problems = harness.compare_runs(reference, run)
    return {
        "killed_at": killed, "fallbacks": fallbacks, "losses_equal": losses_equal,
        "weights_equal": weights_equal, "problems": problems, "steps": steps,
        "logged_steps_ok": harness.logged_steps(run) == list(range(1, steps + 1)),
        "reference_s": reference_s,
    }


def fuzz_campaign(work, examples, render_examples):
    from glomo_tf.export.graph_module import load_graph_module
    from tests.export import tiny_module

    module = load_graph_module(tiny_module.exported_module()[1])
    tried = collections.Counter()
    failures = {}
    counter = iter(range(10**9))

    def fuzz(name, strategy, check, count):
        @settings(max_examples=count, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        @given(strategy)
        def body(args):
            tried[name] += 1
            check(*args)

        try:
            body()
        except Exception as error:  # hypothesis re-raises the minimal failing example
            failures[name] = f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
            traceback.print_exc()

    def scratch(prefix):
        path = os.path.join(work, f"{prefix}-{next(counter)}")
        os.makedirs(path)
        import pathlib

        return pathlib.Path(path)

    fuzz("module graphs/tokenize", st.tuples(st.lists(hostile_text.texts, min_size=1, max_size=4)),
         lambda texts: fuzz_test.check_module_outputs(module, texts), examples)
    fuzz("corpus readers + vocabulary + tokenizer",
         st.tuples(st.lists(hostile_text.texts, max_size=6),
                   st.sampled_from([f for f in fuzz_test.FORMATS if f != "imdb"]), st.booleans()),
         lambda documents, fmt, compressed: fuzz_test.check_reader(scratch("corpus"), documents, fmt, compressed),
         max(1, examples // 5))
    fuzz("CLI arguments (every subcommand)",
         st.tuples(st.sampled_from(fuzz_test.CLI_TEMPLATES), hostile_text.strings),
         lambda template, text: fuzz_test.check_cli_bad_string(scratch("cwd"), template, text), examples)
    fuzz("glomo graphs (drawing)", st.tuples(hostile_text.strings.filter(lambda t: len(t) < 5_000)),
         lambda text: fuzz_test.check_cli_graphs(scratch("png") / "graphs.png", text), render_examples)
    return tried, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--steps", type=int, default=24)
    parser.add_argument("--checkpoint-every", type=int, default=3)
    parser.add_argument("--fuzz-examples", type=int, default=500)
    parser.add_argument("--render-examples", type=int, default=40)
    parser.add_argument("--seed", type=int, default=None, help="seed of the kill steps (default: random)")
    parser.add_argument("--skip-kills", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(10**6)
    work = tempfile.mkdtemp(prefix="glomo-faults-")
    try:
        kills = None if args.skip_kills else kill_campaign(
            os.path.join(work, "kills"), args.kills, args.steps, args.checkpoint_every, seed)
        tried, failures = fuzz_campaign(os.path.join(work, "fuzz"), args.fuzz_examples, args.render_examples)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    parts = []
    if kills is not None:
        yes = {True: "yes", False: "no"}
        parts.append(
            f"**Kill -9 during `glomo pretrain`** (tiny model, {kills['steps']} steps, checkpoint and "
            f"validation every {args.checkpoint_every} steps, kill steps drawn with seed {seed}):\n\n"
            + markdown_table(
                ["kills done", "killed at steps", "resumes that met a truncated checkpoint (fell back)",
                 "every step logged once", "loss log equal", "final weights + optimizer equal"],
                [[len(kills["killed_at"]), ", ".join(map(str, kills["killed_at"])), kills["fallbacks"],
                  yes[kills["logged_steps_ok"]], yes[kills["losses_equal"]], yes[kills["weights_equal"]]]])
            + ("\n\nProblems: " + "; ".join(kills["problems"]) if kills["problems"] else "")
            + "\n\n\"Equal\" means bit-identical to an uninterrupted run of the same command "
              "(CPU, TF_DETERMINISTIC_OPS=1), compared on the per-step loss log `losses.tsv` and on "
              "every variable of the final checkpoint."
        )
    rows = [[name, tried[name], failures.get(name, "none")] for name in tried]
    parts.append(
        "**Fuzzing** (hypothesis; random Unicode incl. lone surrogates, invalid UTF-8, NUL bytes, empty and "
        "whitespace-only strings, 100k-character documents, 1k-20k-character words, emoji, mixed scripts):\n\n"
        + markdown_table(["entry point", "inputs tried", "failures found"], rows)
        + f"\n\nTotal inputs tried: {sum(tried.values())}. Checks per input: see "
          "`tests/reliability/fuzz_test.py` (no crash, finite graphs, rows summing to 1 or 0, tokens "
          "consistent with the mask and `tokenize`, ids in range; CLI: exit code 2 and one printable line)."
    )
    body = "\n\n".join(parts)
    if args.no_write:
        print(body)
    else:
        write_section("faults", "Fault injection", body)
    failed = bool(failures) or (kills is not None and not (kills["losses_equal"] and kills["weights_equal"]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
