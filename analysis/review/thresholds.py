"""Every threshold the review applies, in one place; docs/analysis.md ("Review thresholds") explains each."""

from __future__ import annotations

# -- uncertainty ---------------------------------------------------------------------------------------
# A difference is "real" only below this McNemar p-value: the usual 5 %, so one review in twenty of two
# equal models still calls a difference; the finding quotes p so a reader can be stricter.
SIGNIFICANCE = 0.05
# The recommendation may pick a member this much worse than the best (0.5 pp): about the Wilson half-width
# of a 10 % error on CIFAR-10's 10,000 test images (±0.6 pp), so it is within what one test set can tell.
DEFAULT_TOLERANCE = 0.005

# -- seeds -----------------------------------------------------------------------------------------------
# A model's seed range (its highest minus its lowest test error over the seeds) needs two seeds at least.
SEED_MIN = 2
# Two models whose mean test errors differ by no more than this many times the wider of their seed ranges are
# "not a real difference": reseeding one model alone moves its error that far, so the architecture has not
# shown that it matters. The range, not ± one standard deviation: with the 2–3 seeds a sweep affords the
# deviation is itself badly estimated, and the range is what the reader sees quoted. Factor 1: the plain
# comparison, no extra margin.
SEED_RANGE_FACTOR = 1.0

# -- over-fitting --------------------------------------------------------------------------------------
# A run over-fits when its train/test gap exceeds the family's median gap (the other runs') by this much:
# 5 pp is well beyond the ±1–2 pp the demo's 2,000 test images can resolve, so it is not noise.
OVERFIT_EXCESS = 0.05
# Alone (no other run of the dataset to compare with) a gap of 10 pp is reported; a demo-profile
# BaseCNN ends near 5 pp, so twice that is unusual for this family.
OVERFIT_ALONE_GAP = 0.10
# Above this excess the finding is "high": the test error would gain most from regularisation.
OVERFIT_HIGH_EXCESS = 0.10

# -- redundancy ----------------------------------------------------------------------------------------
# A layer is redundant when at least this share of its neurons are flagged near-duplicates (correlation
# ≥ the analysis' duplicate threshold with a kept neuron) ...
REDUNDANT_SHARE = 0.2
# ... *and* merging them costs at most this much test error (0.2 pp: below the noise of a 2,000-image
# test set, and a fifth of what a width step of the family typically changes).
MERGE_COST = 0.002
# A layer needs this many neurons before it is called redundant: merging 1 of 3 says little.
REDUNDANT_MIN_NEURONS = 8

# -- edge signs ----------------------------------------------------------------------------------------
# "High-level" layers: relative depth at or above this (the second half of the network).
HIGH_LEVEL_DEPTH = 0.5
# CNNVis found mostly inhibitory (negative) edges between high-level layers of trained CNNs; a mean
# positive-edge fraction above 60 % there means excitation dominates, which is worth a look.
POSITIVE_EDGES = 0.6

# -- dead units ----------------------------------------------------------------------------------------
# A layer is reported when this share of its units never fire on the evaluation images (a tenth: enough
# to matter for size, rare in a healthy BN network).
DEAD_SHARE = 0.1
# Above this share (half the layer: training health's own threshold) the finding is "high".
DEAD_HIGH_SHARE = 0.5

# -- severities ----------------------------------------------------------------------------------------
SEVERITIES = ("high", "medium", "info")  # most severe first
# Training-health anomalies (analysis.training.health) keep their weight: an error (diverged, exploding)
# is high, a warning medium, an observation info.
HEALTH_SEVERITY = {"error": "high", "warning": "medium", "info": "info"}
