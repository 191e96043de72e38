"""Statistics: pure functions and small estimators on numpy arrays — errors, clusters, redundancy, edges, CKA."""
