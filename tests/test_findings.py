"""The paper's findings judged on study tables: each verdict follows the numbers, and the paper's data file."""
from __future__ import annotations

import pandas as pd

from analysis import paper
from analysis.findings import NOT_APPLICABLE, NOT_COMPUTED, NOT_REPRODUCED, REPRODUCED, findings


def linearity(before: int, after: int, layer: int = 5) -> pd.DataFrame:
    return pd.DataFrame({"seed": [1, 2], "layer": layer, "n_labels": 32, "n_clusters_original": before,
                         "n_clusters_fine_tuned": after})


def test_each_verdict_follows_the_numbers():
    layers = pd.DataFrame({"seed": 1, "step": [0, 0, 9, 9], "layer": [0, 1, 0, 1], "metric": "spatial",
                           "value": [1.0, 1.0, 0.9, 0.45]})
    dynamics = pd.DataFrame({"seed": 1, "step": [0, 0, 9, 9], "label": ["a", "b", "a", "b"],
                             "min_distance": [1.0, 2.0, 3.0, 1.5]})
    cross = pd.DataFrame({"fine_tuned_on": "pos", "analysed_task": "ps-fxn", "seed": 1, "n_increased": 3,
                          "n_decreased": 37, "mean_change": -0.4}, index=[0])
    divergence = pd.DataFrame({"seed": 1, "layer": [2, 3], "similarity_original": [0.9, 0.8],
                               "similarity_fine_tuned": [0.7, 0.85]})
    tables = {"linearity": linearity(50, 34), "layers": layers, "dynamics": dynamics, "cross_task": cross,
              "divergence": divergence}
    verdicts = [f.verdict for f in findings(tables)]
    # layer 3 is the last defined: 0.80 → 0.85 is no divergence; POS → PS-fxn moved closer, as in the paper;
    # layer 1 fell to 0.45 < 0.5
    assert verdicts == [NOT_REPRODUCED, REPRODUCED, REPRODUCED, REPRODUCED, NOT_REPRODUCED]
    assert findings({"linearity": linearity(32, 32)})[1].verdict == NOT_APPLICABLE
    assert findings({"linearity": linearity(40, 41)})[1].verdict == NOT_REPRODUCED
    assert [f.verdict for f in findings({})] == [NOT_COMPUTED] * 5
    assert "0.800 → 0.850" in findings(tables)[0].evidence


def test_paper_table_maps_models_and_tasks():
    assert paper.paper_model("bert-base-uncased") == "bert-base"
    assert paper.paper_model("google/bert_uncased_L-2_H-128_A-2") == "bert-tiny"
    assert paper.paper_model("/models/bert_uncased_L-8_H-512_A-8/") == "bert-medium"
    assert paper.paper_model("all-MiniLM-L6-v2") is None
    assert paper.published("trec-6", "n_clusters").empty
    tiny_pos = paper.published("pos", "n_clusters").set_index("model").loc["bert-tiny"]
    assert (tiny_pos["original"], tiny_pos["fine-tuned"]) == (3936, 20)  # finding 2's example in the paper
    assert paper.models().set_index("model").loc["bert-base", "hub"] == "bert-base-uncased"

