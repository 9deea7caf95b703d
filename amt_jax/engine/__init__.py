"""The estimators: perturbation families, metrics, permutation importance, noise response, statistics."""
