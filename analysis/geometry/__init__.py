"""Array-level analyses of how fine-tuning changes representation geometry (Zhou & Srikumar, 2022).

Every function takes plain arrays (or records of them) and returns a tidy DataFrame, a
dataclass or an array, so the dashboard and the CLI share them; none reads the store.
"""
from .centroids import Projection, centroid_shift_pca, centroid_trajectories, label_centroids
from .cross_task import cross_task_table, min_distance_change
from .divergence import train_test_divergence
from .dynamics import min_distance_dynamics, min_distance_extremes, min_distances
from .layers import LayerSnapshot, compare_layers, layer_behaviour
from .linearity import linearity_table
from .seeds import recipe_summary, seed_intervals
from .similarity import (
    centroid_rsa,
    linear_cka,
    pearson_over_shared_pairs,
    spatial_similarity_if_linear,
)
from .states import FINE_TUNED, ORIGINAL

__all__ = [
    "FINE_TUNED",
    "ORIGINAL",
    "LayerSnapshot",
    "Projection",
    "centroid_rsa",
    "centroid_shift_pca",
    "centroid_trajectories",
    "compare_layers",
    "cross_task_table",
    "label_centroids",
    "layer_behaviour",
    "linear_cka",
    "linearity_table",
    "min_distance_change",
    "min_distance_dynamics",
    "min_distance_extremes",
    "min_distances",
    "pearson_over_shared_pairs",
    "recipe_summary",
    "seed_intervals",
    "spatial_similarity_if_linear",
    "train_test_divergence",
]
