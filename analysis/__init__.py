"""The analysis layer: datasets, training, runs, checkpoints (and, later, statistics and cache).

Never imports Dash; the app calls this package's public functions.
"""
