"""The analysis layer: datasets, training, runs, checkpoints, statistics of the trained nets, and their cache.

Never imports Dash; the app calls this package's public functions (mainly ``pipeline.RunAnalyzer``);
``frames`` gives the same numbers as pandas DataFrames (notebooks, CSV exports, the app's tables).
"""
