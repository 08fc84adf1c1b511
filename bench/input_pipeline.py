"""Input pipeline alone vs the train step: is pretraining ever input-bound?

Times `make_pretraining_dataset` (read the corpus, tokenize with tensorflow-text, cut windows,
shuffle, batch, prefetch; `map(num_parallel_calls=AUTOTUNE)` and AUTOTUNE prefetch) on real
text, draining batches as fast as it can, and, in the same process and interleaved, the GLoMo
train step on batches of the same shape. The pipeline must produce tokens at least 10x faster
than the step consumes them.

    GLOMO_DATA_DIR=../shared/data python bench/input_pipeline.py --config small
"""

import argparse
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.report import markdown_table, write_section  # noqa: E402
from glomo_tf.configs import GLoMoConfig  # noqa: E402
from glomo_tf.data.pretraining_dataset import make_pretraining_dataset  # noqa: E402
from glomo_tf.data.text_readers import CorpusReader  # noqa: E402
from glomo_tf.data.vocabulary import build_vocabulary  # noqa: E402
from glomo_tf.data.word_tokenizer import GLoMoWordTokenizer  # noqa: E402
from glomo_tf.datasets.data_dir import data_dir  # noqa: E402
from glomo_tf.models.glomo_pretrainer import GLoMoPretrainer  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", default=None, help="default: WikiText-2 train under GLOMO_DATA_DIR")
    parser.add_argument("--config", default="small")
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=50, help="batches drained per pipeline sample")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    corpus = args.corpus or os.path.join(data_dir(), "wikitext-2", "wiki.train.tokens.xz")
    config = GLoMoConfig.named(args.config, sequence_length=args.length)

    reader = CorpusReader(corpus)
    vocabulary = build_vocabulary(reader, max_size=config.vocabulary_size - 1, progress=False,
                                  lowercase=True)
    tokenizer = GLoMoWordTokenizer(vocabulary, lowercase=True)
    config = GLoMoConfig.named(args.config, sequence_length=args.length, vocabulary_size=len(vocabulary))

    def pipeline_sample(seed):
        # A fresh pipeline each sample: reading, tokenizing and the shuffle buffer's fill are counted.
        dataset = make_pretraining_dataset(reader, tokenizer, args.length, args.batch, seed=seed,
                                           shuffle_buffer=1000)
        start = time.perf_counter()
        for batch in dataset.take(args.batches):
            pass
        np.asarray(batch)
        return args.batches * args.batch * args.length / (time.perf_counter() - start)

    keras.utils.set_random_seed(0)
    model = GLoMoPretrainer(config, seed=0)
    model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.2, global_clipnorm=0.25))
    ids = next(iter(make_pretraining_dataset(reader, tokenizer, args.length, args.batch, shuffle_buffer=0)))
    model.train_on_batch(ids)
    model.train_on_batch(ids)

    def step_sample():
        start = time.perf_counter()
        float(np.asarray(model.train_on_batch(ids)))
        return args.batch * args.length / (time.perf_counter() - start)

    pipe, step = [], []
    for r in range(args.rounds):
        pipe.append(pipeline_sample(r))
        step.append(step_sample())
    ratios = [p / s for p, s in zip(pipe, step)]
    body = (
        f"Corpus `{os.path.basename(corpus)}`, vocabulary {len(vocabulary):,} (lowercased), T = {args.length}, "
        f"batch = {args.batch}; pipeline samples drain {args.batches} batches from a freshly built "
        f"`make_pretraining_dataset` (shuffle buffer 1000); the train step is `{args.config}` GLoMo, fp32. "
        f"Medians of {args.rounds} interleaved rounds; contended 2-core machine, so the ratio is the figure.\n\n"
        + markdown_table(
            ["what", "tokens/s (median)"],
            [["input pipeline alone", f"{statistics.median(pipe):,.0f}"],
             [f"GLoMo train step ({args.config})", f"{statistics.median(step):,.0f}"],
             ["pipeline ÷ train step", f"{statistics.median(ratios):.1f}x (target >= 10x)"]],
        )
    )
    print(body)
    if not args.no_write:
        write_section("input_pipeline", "Input pipeline vs train step", body)


if __name__ == "__main__":
    main()
