"""Downstream tasks: data, models and metrics (IMDB, SST-2, NLI, SQuAD)."""
