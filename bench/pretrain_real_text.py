"""Pretrains GLoMo on real unlabeled text and records the validation context-prediction curve.

Corpus (built from the staged data in `GLOMO_DATA_DIR`, written under `--run-dir`, never
committed): WikiText-2 train articles + the first `--imdb-reviews` IMDB unlabeled reviews
(`train/unsup`), interleaved in a seeded order, one document per line. Validation:
WikiText-2 valid articles + the next `--imdb-valid` unlabeled reviews (disjoint from the
training reviews). Training is one `glomo pretrain` process (the CLI, so the run is exactly
what a user would type), validated and checkpointed every `--validate-every` steps, under a
wall-clock budget: at `--minutes` it is stopped and the newest checkpoint is used (steps
after it are lost; at most `--validate-every`). A run directory that already holds
checkpoints is resumed (`--resume`); `--from-run` skips training. Then the newest checkpoint
is exported as a graph module (`saved_models/glomo_wiki_<config>` by default), loaded back
with `tensorflow_hub.load` in a fresh process, and its graphs are rendered to a PNG. The
curve is read from the run's TensorBoard `val_loss` scalars and its `losses.tsv`.

    python bench/pretrain_real_text.py --config tiny --steps 240 --validate-every 30 --minutes 25

The loss is the pretraining objective: mean cross-entropy (nats) of each of the next D
tokens, predicted from f_t^L at the sampled positions, averaged over both directions;
perplexity = exp(loss). Chance level is ln(V).
"""

import argparse
import glob
import json
import math
import os
import random
import signal
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.data.text_readers import CorpusReader  # noqa: E402
from glomo_tf.datasets.data_dir import data_dir  # noqa: E402

GRAPH_TEXT = ("The film was not good , but the actors who played the two brothers "
              "were great and the music that they chose made it worth watching .")


def _one_line(document):
    return " ".join(document.split())


def build_corpus(out_dir, imdb_reviews, imdb_valid, seed):
    """Writes train.txt / valid.txt (one document per line); returns (paths, stats dict)."""
    root = data_dir()
    wikitext = os.path.join(root, "wikitext-2")
    imdb = os.path.join(root, "imdb", "aclImdb_train_unsup.tar.gz")
    os.makedirs(out_dir, exist_ok=True)
    stats = {}

    def read(path, name, limit=None, **kwargs):
        reader = CorpusReader(path, **kwargs)
        docs = []
        for doc in reader:
            docs.append(_one_line(doc))
            if limit is not None and len(docs) >= limit:
                break
        stats[name] = {"documents": len(docs), "tokens": sum(len(d.split()) for d in docs),
                       "replaced_characters": reader.stats.replaced_characters,
                       "empty_documents_dropped": reader.stats.empty_documents}
        return docs

    wiki_train = read(os.path.join(wikitext, "wiki.train.tokens.xz"), "wikitext2_train")
    wiki_valid = read(os.path.join(wikitext, "wiki.valid.tokens.xz"), "wikitext2_valid")
    reviews = read(imdb, "imdb_unsup", limit=imdb_reviews + imdb_valid, format="imdb",
                   imdb_subsets=("train/unsup",))
    train_docs = wiki_train + reviews[:imdb_reviews]
    valid_docs = wiki_valid + reviews[imdb_reviews:]
    random.Random(seed).shuffle(train_docs)
    random.Random(seed + 1).shuffle(valid_docs)
    paths = {}
    for name, docs in (("train", train_docs), ("valid", valid_docs)):
        path = os.path.join(out_dir, f"{name}.txt")
        with open(path, "w", encoding="utf-8") as f:
            for doc in docs:
                if doc:
                    f.write(doc + "\n")
        paths[name] = path
        stats[f"{name}_file"] = {"documents": len(docs), "tokens": sum(len(d.split()) for d in docs)}
    return paths, stats


def check_hub_load(module_dir):
    """Loads the module with tensorflow_hub in a fresh process; returns its graphs' shape and row sums."""
    code = (
        "import json, sys, tensorflow as tf, tensorflow_text, tensorflow_hub as hub\n"
        "m = hub.load(sys.argv[1])\n"
        "out = m.graphs(tf.constant([sys.argv[2], 'a short one .', '']))\n"
        "g = out['graphs'].numpy(); s = g.sum(-1); mask = out['mask'].numpy()\n"
        "n = mask.sum(1)\n"
        # Rows that may read something: real tokens except the first (forward) / last
        # (backward) one; of those, how many actually read (sum 1) in sparse mode.
        "live = [(b, d, i) for b in range(len(n)) for d in range(2) for i in range(int(n[b]))\n"
        "        if (d == 0 and i > 0) or (d == 1 and i < n[b] - 1)]\n"
        "full = [float(abs(s[b, d, :, :, i] - 1).max() < 1e-3) for b, d, i in live]\n"
        "any_ = [float((abs(s[b, d, :, :, i] - 1) < 1e-3).mean()) for b, d, i in live]\n"
        "print(json.dumps({'shape': list(g.shape), 'row_sum_max': float(s.max()),\n"
        "  'rows_summing_to_1': float(((abs(s - 1) < 1e-3)).mean()),\n"
        "  'live_rows_reading': sum(any_) / max(len(any_), 1),\n"
        "  'live_rows': len(live),\n"
        "  'finite': bool(tf.reduce_all(tf.math.is_finite(out['graphs']))),\n"
        "  'empty_text_graph_sum': float(g[2].sum())}))\n"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", code, module_dir, GRAPH_TEXT],
                            capture_output=True, text=True, env=env, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def directory_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def plot_curve(points, chance, out_png, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    steps = [p["step"] for p in points]
    ax.plot(steps, [p["val_loss"] for p in points], "o-", label="validation loss")
    train = [(p["step"], p["train_loss"]) for p in points if p.get("train_loss") is not None]
    if train:
        ax.plot(*zip(*train), "s--", alpha=0.7, label="training loss (mean over interval)")
    ax.axhline(chance, color="grey", ls=":", label=f"chance ln V = {chance:.2f}")
    ax.set_xlabel("step")
    ax.set_ylabel("context-prediction loss (nats/token)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_png, dpi=100)
    plt.close(fig)


def write_model_card(module_dir, info):
    text = f"""# {os.path.basename(module_dir)}

A GLoMo graph module (format_version 1, see `saved_models/README.md`) pretrained on real
text by `bench/pretrain_real_text.py`. It is small and trained for a short, CPU-only budget:
a demonstration module for `glomo finetune --graphs` and the transfer benchmark, not a
reproduction of the paper's 100k-word, d=512 model.

| | |
|---|---|
| data | WikiText-2 train ({info['corpus']['wikitext2_train']['documents']} articles, {info['corpus']['wikitext2_train']['tokens']:,} tokens) + the first {info['imdb_reviews']:,} IMDB unlabeled reviews (`train/unsup`, {info['corpus']['imdb_train_tokens']:,} tokens); validation: WikiText-2 valid + {info['imdb_valid']} further unlabeled reviews |
| tokenizer | lowercase, digits replaced by one symbol, `<unk>` = id 0 |
| vocabulary | {info['vocabulary_size']:,} entries (top {info['vocabulary_size'] - 1:,} training words + `<unk>`) |
| model | `{info['config']}` preset: d {info['model']['hidden_dim']}, L {info['model']['num_layers']}, K {info['model']['num_heads']}, head {info['model']['head_dim']}, {info['model']['cnn_layers']} CNN layers, D {info['model']['context_length']}, sparse mode {info['model']['sparse_mode']}, window T {info['model']['sequence_length']} |
| training | {info['steps']} steps, batch {info['batch_size']}, {info['train']['optimizer']} lr {info['train']['learning_rate']}, seed {info['train']['seed']} ({info['tokens_seen']:,} window tokens seen) |
| wall time | {info['wall_minutes']:.1f} min on a shared 2-core CPU (other jobs running) |
| final validation loss | {info['final_val_loss']:.3f} nats/token (perplexity {math.exp(info['final_val_loss']):.0f}; chance ln V = {math.log(info['vocabulary_size']):.2f}) |
| size | {info['module_bytes'] / 1e6:.2f} MB |

Command:

```
{info['command']}
```
{"" if not info.get("training_command") else chr(10) + "Training: " + info["training_command"] + chr(10)}
The validation curve is in `BENCHMARKS.md` (section "Pretraining on real text") and
`bench/pretrain_real_text.png`; the module's graphs on one sentence in
`bench/pretrain_real_text_graphs.png`.

Licences of the training text: WikiText-2 is CC BY-SA 3.0 (Wikipedia); the IMDB reviews
come from the Large Movie Review Dataset (Maas et al., 2011; cite the ACL 2011 paper). The
module stores a vocabulary (word list) derived from them, not the text.
"""
    with open(os.path.join(module_dir, "MODEL_CARD.md"), "w", encoding="utf-8") as f:
        f.write(text)


def validation_curve(run_dir):
    """`{global step: val_loss}` from the run's TensorBoard step summaries."""
    import tensorflow as tf

    curve = {}
    for path in sorted(glob.glob(os.path.join(run_dir, "logs", "steps", "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "val_loss":
                    curve[int(event.step)] = float(tf.make_ndarray(value.tensor))
    return curve


def step_losses(run_dir):
    """`{step: training loss}` from `losses.tsv` (empty if the run has none)."""
    path = os.path.join(run_dir, "losses.tsv")
    losses = {}
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) >= 2 and parts[0].isdigit():
                    try:
                        losses[int(parts[0])] = float(parts[1])
                    except ValueError:
                        pass
    return losses


def train(args, paths, out_dir):
    """Runs `glomo pretrain` until `--steps` or the wall budget; returns the training seconds."""
    cmd = [sys.executable, "-m", "glomo_tf", "pretrain", "--corpus", paths["train"],
           "--validation-corpus", paths["valid"], "--format", "lines", "--config", args.config,
           "--out", out_dir, "--steps", str(args.steps), "--batch-size", str(args.batch_size),
           "--sequence-length", str(args.sequence_length), "--max-vocab", str(args.max_vocab),
           "--validate-every", str(args.validate_every),
           "--checkpoint-every", str(args.validate_every),
           "--validation-steps", str(args.validation_steps), "--log-every", str(args.validate_every),
           "--image-every", "0", "--keep-checkpoints", "2", "--seed", str(args.seed), "--quiet"]
    if os.path.isdir(os.path.join(out_dir, "checkpoints")) and os.listdir(os.path.join(out_dir, "checkpoints")):
        cmd.append("--resume")
    print("running:", " ".join(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c for c in cmd), flush=True)
    started = time.time()
    process = subprocess.Popen(cmd, cwd=ROOT)
    deadline = started + 60 * args.minutes
    while process.poll() is None:
        if time.time() > deadline:
            print(f"wall budget of {args.minutes} min reached: stopping; the newest checkpoint is used", flush=True)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            break
        time.sleep(5)
    else:
        if process.returncode != 0:
            raise SystemExit(f"glomo pretrain failed with exit status {process.returncode}")
    return time.time() - started


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", choices=("tiny", "small"))
    parser.add_argument("--steps", type=int, default=240)
    parser.add_argument("--minutes", type=float, default=25.0, help="wall budget of the training")
    parser.add_argument("--validate-every", type=int, default=30)
    parser.add_argument("--validation-steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=64)
    parser.add_argument("--max-vocab", type=int, default=20000)
    parser.add_argument("--imdb-reviews", type=int, default=5000)
    parser.add_argument("--imdb-valid", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", default=os.path.join(ROOT, "runs", "pretrain_real_text"))
    parser.add_argument("--from-run", action="store_true",
                        help="skip training: report and export the run already in --run-dir")
    parser.add_argument("--train-minutes", type=float, default=None,
                        help="with --from-run: the training wall time to report")
    parser.add_argument("--training-command", default=None,
                        help="with --from-run: how the run was trained, for the report")
    parser.add_argument("--skip-export", action="store_true",
                        help="keep the module already at --export (same checkpoint)")
    parser.add_argument("--export", default=None,
                        help="module directory (default saved_models/glomo_wiki_<config>)")
    parser.add_argument("--no-write", action="store_true", help="do not touch BENCHMARKS.md")
    args = parser.parse_args()

    from glomo_tf.configs import GLoMoConfig, PretrainConfig
    from glomo_tf.export.graph_module import export_from_checkpoint
    from glomo_tf.export.graph_rendering import render_graphs
    from glomo_tf.export.run_checkpoint import latest_checkpoint

    command = "python " + " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:])
    export_dir = args.export or os.path.join(ROOT, "saved_models", f"glomo_wiki_{args.config}")
    started = time.time()
    paths, corpus_stats = build_corpus(os.path.join(args.run_dir, "corpus"), args.imdb_reviews,
                                       args.imdb_valid, args.seed)
    print("corpus:", json.dumps(corpus_stats), flush=True)
    out_dir = os.path.join(args.run_dir, "run")
    if args.from_run:
        train_seconds = 60 * args.train_minutes if args.train_minutes is not None else float("nan")
    else:
        train_seconds = train(args, paths, out_dir)

    checkpoint = latest_checkpoint(out_dir)
    if checkpoint is None:
        raise SystemExit(f"no checkpoint in {out_dir}")
    final_step = int(os.path.basename(checkpoint).split("-")[-1])
    with open(os.path.join(out_dir, "config.json"), encoding="utf-8") as f:
        saved = json.load(f)
    model_config = GLoMoConfig.from_dict(saved["model"])
    train_config = PretrainConfig.from_dict(saved["train"])
    val_curve = validation_curve(out_dir)
    losses = step_losses(out_dir)
    points = []
    for step in sorted(s for s in val_curve if s <= final_step):
        interval = [v for s, v in losses.items() if step - args.validate_every < s <= step]
        points.append({"step": step, "val_loss": val_curve[step],
                       "train_loss": sum(interval) / len(interval) if interval else None})
    vocabulary_size = model_config.vocabulary_size
    chance = math.log(vocabulary_size)

    if not (args.skip_export and os.path.isdir(export_dir)):
        export_from_checkpoint(out_dir, export_dir, checkpoint=checkpoint)
    module_bytes = directory_bytes(export_dir)
    hub_check = check_hub_load(export_dir)
    graphs_png = os.path.join(ROOT, "bench", "pretrain_real_text_graphs.png")
    render_graphs(export_dir, GRAPH_TEXT, graphs_png, heads=[0, 1])
    curve_png = os.path.join(ROOT, "bench", "pretrain_real_text.png")
    plot_curve(points, chance, curve_png,
               f"GLoMo {args.config} on WikiText-2 + IMDB unlabeled, V={vocabulary_size}")

    imdb_tokens = corpus_stats["train_file"]["tokens"] - corpus_stats["wikitext2_train"]["tokens"]
    corpus_stats["imdb_train_tokens"] = imdb_tokens
    info = {
        "config": args.config, "model": model_config.to_dict(),
        "train": train_config.to_dict(), "corpus": corpus_stats,
        "imdb_reviews": args.imdb_reviews, "imdb_valid": args.imdb_valid,
        "vocabulary_size": vocabulary_size, "steps": final_step,
        "batch_size": train_config.batch_size,
        "tokens_seen": final_step * train_config.batch_size * model_config.sequence_length,
        "wall_minutes": train_seconds / 60, "module_bytes": module_bytes,
        "final_val_loss": points[-1]["val_loss"] if points else float("nan"),
        "command": command, "points": points, "hub_check": hub_check,
        "training_command": args.training_command if args.from_run else None,
    }
    write_model_card(export_dir, info)
    with open(os.path.join(args.run_dir, "curve.json"), "w") as f:
        json.dump(info, f, indent=2)

    T = model_config.sequence_length
    B = train_config.batch_size
    rows = [[p["step"], f"{p['step'] * B * T:,}",
             "–" if p["train_loss"] is None else f"{p['train_loss']:.3f}",
             f"{p['val_loss']:.3f}", f"{math.exp(p['val_loss']):.0f}"] for p in points]
    wiki = corpus_stats["wikitext2_train"]
    unsup = corpus_stats["imdb_unsup"]
    body = f"""Validation context-prediction loss of GLoMo `{args.config}` pretrained on real text: WikiText-2
train ({wiki['documents']} articles, {wiki['tokens']:,} tokens) + {args.imdb_reviews:,} IMDB unlabeled reviews
({imdb_tokens:,} tokens), one document per line, seeded interleaving. Validation: WikiText-2 valid +
{args.imdb_valid} further unlabeled reviews, the same {train_config.validation_steps} batches of {B}x{T}
windows at every validation. Vocabulary {vocabulary_size:,} (lowercased, digits to one symbol). Model:
d {model_config.hidden_dim}, L {model_config.num_layers}, K {model_config.num_heads}, head {model_config.head_dim},
T {T}, D {model_config.context_length}; {train_config.optimizer} lr {train_config.learning_rate}, batch {B};
{final_step} steps reached within the budget ({final_step * B * T:,} window tokens, far less than one pass over the corpus).

Budget: {train_seconds / 60:.1f} min of training wall time on a 2-core CPU shared with several other
jobs ({train_seconds / max(final_step, 1):.0f} s per step on average, validations and checkpoints
included; while it ran the load average was 10-16, so it got a small share of one core). Absolute times are not comparable to other machines. Bad input while reading:
{unsup['replaced_characters'] + wiki['replaced_characters']} undecodable characters replaced,
{wiki['empty_documents_dropped'] + unsup['empty_documents_dropped']} empty documents dropped.

Loss = mean cross-entropy (nats) per predicted token (next D={model_config.context_length} tokens from f_t^L at
{model_config.num_sampled_positions} sampled positions per batch, both directions averaged); perplexity = exp(loss);
chance = ln V = {chance:.2f} (perplexity {vocabulary_size:,}).

{markdown_table(["step", "window tokens seen", "train loss (interval mean)", "val loss", "val perplexity"], rows)}

![validation curve](bench/pretrain_real_text.png)

Exported module: `{os.path.relpath(export_dir, ROOT)}` ({module_bytes / 1e6:.2f} MB, with `MODEL_CARD.md`).
`tensorflow_hub.load` in a fresh process: graphs shape {hub_check['shape']} for 3 texts (one empty),
finite: {hub_check['finite']}; every row sums to 1 or 0. Of the rows that may read something (real
tokens except the first one forward / the last one backward; {hub_check['live_rows']} token x direction
positions, each over L x K graphs), {100 * hub_check['live_rows_reading']:.0f}% read something (sum 1); the others
are empty because in sparse mode 4 no affinity exceeds the row's threshold θ_i. The empty text's graphs
sum to {hub_check['empty_text_graph_sum']}. Graphs of one sentence (heads 0-1):
`bench/pretrain_real_text_graphs.png`.
"""
    if info["training_command"]:
        body += "\nTraining: " + info["training_command"] + "\n"
    if not args.no_write:
        write_section("pretrain_real_text", "Pretraining on real text (WikiText-2 + IMDB unlabeled)", body)
    else:
        print(body)
    print(f"total wall {(time.time() - started) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
