"""The review: findings with evidence, the recommendation and the two-run diff, from cached analyses."""
