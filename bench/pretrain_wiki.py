"""Reports a real-text pretraining run from its run directory: speed, validation curve,
live rows, written to BENCHMARKS.md ("pretrain_wiki").

It reads what the run logged (TensorBoard events under `RUN/logs`: per-step loss with wall
times, val_loss, the live-row fractions of every validation), so it can be re-run at any
time while the run goes on or after it stopped; the section says whether the run is done.

Tokens per step are batch × the mean window length of the run's window recipe (for the
released recipe, E[int(T·1.4^u)], u uniform in [-2, 0], computed exactly over u).

    python bench/pretrain_wiki.py --run ~/runs/glomo_wiki
"""

import argparse
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench import report  # noqa: E402


def mean_window_length(train, max_length):
    from glomo_tf.data.pretraining_dataset import released_mean_length

    if train.get("windows") != "documents":
        return float(max_length)
    return released_mean_length(max_length)


def scalars(directory, tag):
    """`[(step, wall_time, value)]` of one scalar tag in a TensorBoard log directory."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    if not os.path.isdir(directory):
        return []
    events = EventAccumulator(directory, size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    found = []
    for kind in ("scalars", "tensors"):
        if tag not in events.Tags().get(kind, []):
            continue
        for e in (events.Scalars(tag) if kind == "scalars" else events.Tensors(tag)):
            value = e.value if kind == "scalars" else float(np.asarray(
                __import__("tensorflow").make_ndarray(e.tensor_proto)))
            found.append((e.step, e.wall_time, float(value)))
    return sorted(found)


def newest_stretch(losses, gap_factor=10.0):
    """`((step, wall), (step, wall))`: the ends of the newest stretch of logged steps that
    one process ran without a pause, for its speed.

    A stop and `--resume` leaves a gap in the wall times (and the steps logged after the
    last checkpoint twice), so the stretch ends, going back in time, at the first step that
    does not come before the next one or at an interval more than `gap_factor` times the
    typical one. Its first interval is dropped too: a resumed process traces its step
    function there.
    """
    points = sorted((wall, step) for step, wall, _ in losses)
    tail = points[-21:]
    intervals = [b[0] - a[0] for a, b in zip(tail, tail[1:])]
    typical = float(np.median(intervals)) if intervals else 0.0
    start = len(points) - 1
    while start > 0:
        (wall_a, step_a), (wall_b, step_b) = points[start - 1], points[start]
        if step_a >= step_b or wall_b - wall_a > gap_factor * max(typical, 1e-9):
            break
        start -= 1
    if len(points) - start > 2:
        start += 1
    (wall0, step0), (wall1, step1) = points[start], points[-1]
    return (step0, wall0), (step1, wall1)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", required=True, help="the pretraining run directory")
    parser.add_argument("--status", default="in progress",
                        help="what the section says of the run (e.g. 'stopped at the session end')")
    parser.add_argument("--display-run", default="~/runs/glomo_wiki",
                        help="how the run directory is named in the report")
    parser.add_argument("--section", default="pretrain_wiki",
                        help="BENCHMARKS.md section (one per run reported)")
    args = parser.parse_args()

    from glomo_tf.configs import load_configs

    model, train = load_configs(os.path.join(args.run, "config.json"))
    train = train.to_dict()
    per_step = train["batch_size"] * mean_window_length(train, model.sequence_length)
    logs = os.path.join(args.run, "logs")
    losses = scalars(os.path.join(logs, "steps"), "loss")
    val = scalars(os.path.join(logs, "steps"), "val_loss")
    live_dir = os.path.join(logs, "live_rows")
    live = {s: v for s, _, v in scalars(live_dir, "live_rows/all")}
    heads = 2 * model.num_layers * model.num_heads
    dead, alive = {}, {}  # step -> the heads (direction, layer, head) < 1% / > 90% live
    for direction in ("forward", "backward"):
        for layer in range(1, model.num_layers + 1):
            for head in range(model.num_heads):
                tag = f"live_rows/{direction}/layer_{layer}/head_{head}"
                for s, _, v in scalars(live_dir, tag):
                    dead.setdefault(s, set())
                    alive.setdefault(s, set())
                    if v < 0.01:
                        dead[s].add((direction, layer, head))
                    if v > 0.9:
                        alive[s].add((direction, layer, head))
    # A dead row passes no gradient to its scores or threshold: is a dead head absorbing?
    steps = sorted(dead)
    still_dead = {s: len(dead[s] & dead[p]) for p, s in zip(steps, steps[1:])}
    if len(losses) < 2:
        raise SystemExit(f"{args.run}: fewer than 2 logged steps; nothing to report yet.")
    (s0, t0), (s1, t1) = newest_stretch(losses)
    rate = (s1 - s0) * per_step / max(t1 - t0, 1e-9)
    rows = [[f"{s:,}", f"{s * per_step / 1e6:.2f}", f"{v:.3f}",
             f"{live[s]:.1%}" if s in live else "not measured",
             f"{len(dead[s])} / {len(alive[s])}" if s in dead else "not measured",
             f"{still_dead[s]}" if s in still_dead else "-"] for s, _, v in val]
    body = (
        f"Run `{args.display_run}` ({args.status}). Model: d {model.hidden_dim}, L "
        f"{model.num_layers}, K {model.num_heads}, head {model.head_dim}, CNN "
        f"{model.cnn_layers}, T ≤ {model.sequence_length}, sparse mode {model.sparse_mode}, "
        f"vocabulary {model.vocabulary_size:,}. Training: {train['optimizer']} lr "
        f"{train['learning_rate']}, batch {train['batch_size']}, windows "
        f"`{train['windows']}` (stride {train['window_stride']} ± "
        f"{train['window_stride_jitter']}), splitting `{train['splitting']}`, precision "
        f"{train['precision']}. Tokens per step: {per_step:,.0f} (batch × mean window "
        f"length).\n\n"
        f"Reached step {max(s for s, _, _ in losses):,} = {max(s for s, _, _ in losses) * per_step / 1e6:.2f}M training "
        f"tokens. Speed over steps {s0:,}–{s1:,} (the newest stretch without a stop): {rate:,.0f} tokens/s "
        f"({(s1 - s0) / max(t1 - t0, 1e-9):.2f} steps/s; the 2 cores were shared with other "
        "work during the run).\n\n"
        "Validation (the same windows every time; live rows = share of real rows with an "
        "allowed column that carry mass, inference mode, all directions/layers/heads):\n\n"
        + report.markdown_table(
            ["step", "tokens (M)", "val loss", "live rows",
             f"heads < 1% / > 90% live (of {heads})",
             "dead heads also dead at the previous validation"], rows)
        + f"\n\nChance: ln V = {math.log(model.vocabulary_size):.2f}.")
    title = "Pretraining on Wikipedia + IMDB unlabeled (real text)"
    if args.section != "pretrain_wiki":
        title += f": `{args.display_run}`"
    report.write_section(args.section, title, body)


if __name__ == "__main__":
    main()
