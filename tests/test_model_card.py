"""model_card.md: the Hugging Face task type follows the input modality, not only the task kind."""

import numpy as np
import pandas as pd
import yaml

from verticalkit.core.data.adapter import Task
from verticalkit.core.evaluate.model_card import hf_task, input_modality, write_model_card
from verticalkit.core.train.run import input_schema


def _front(path):
    return yaml.safe_load(path.read_text().split("---")[1])


def test_modality_from_the_saved_input_schema():
    essays = pd.DataFrame({"text": ["An essay.", "", "Ünïcode text"], "prompt": [1, 2, 1]})
    table = pd.DataFrame({"amount": [1.0, np.nan, 3.0], "merchant": ["a", "b", ""]})
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    assert input_modality(input_schema(essays)) == "text"
    assert input_modality(input_schema(table)) == "tabular"  # a text *category* column is still tabular
    assert input_modality(input_schema(images)) == "image"
    assert input_modality(None) == "tabular"
    assert hf_task("regression", "text") == "text-classification"
    assert hf_task("binary", "tabular") == "tabular-classification"
    assert hf_task("multiclass", "image") == "image-classification"
    assert hf_task("ordinal", "tabular") == "tabular-regression"


def test_text_regression_card_is_not_tabular(tmp_path):
    task = Task(kind="regression", target="score", primary_metric="qwk", score_range=(0.0, 6.0), discrete=True)
    mj = {"split": "test", "n": 3, "seed": 0, "metrics": {"qwk": {"value": 0.7, "ci95": [0.6, 0.8]}},
          "primary": "qwk"}
    schema = input_schema(pd.DataFrame({"text": ["a b", "c"], "prompt": [1, 1]}))
    card = write_model_card(tmp_path / "card.md", vertical="essay_scoring", dataset="essay-csv", model="features",
                            task=task, metrics_json=mj, config={}, info={}, input_schema=schema)
    front = _front(card)
    assert front["model-index"][0]["results"][0]["task"]["type"] == "text-classification"
    assert "text" in front["tags"]
    override = write_model_card(tmp_path / "o.md", vertical="v", dataset="d", model="m", task=task, metrics_json=mj,
                                config={}, info={"hf_task": "text-regression"}, input_schema=schema)
    assert _front(override)["model-index"][0]["results"][0]["task"]["type"] == "text-regression"
