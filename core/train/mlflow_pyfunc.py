"""MLflow pyfunc wrapper for a saved Predictor (``pip install 'verticalkit[mlflow]'``).

    from verticalkit.core.train.mlflow_pyfunc import log_predictor
    with mlflow.start_run():
        info = log_predictor("runs/fraud/model")          # the saved model folder is the artifact
    model = mlflow.pyfunc.load_model(info.model_uri)
    model.predict(df)                                     # DataFrame: score / p_<class> / prediction

``mlflow models serve -m <uri>`` then serves it. The pyfunc output is the same table
``verticalkit predict`` writes (``score_columns``), without the id column.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..heads.predictor import Predictor, resolve_model_dir

try:
    from mlflow.pyfunc import PythonModel
except ImportError:  # the wrapper still works with a stand-in context (tests); logging needs mlflow
    PythonModel = object  # type: ignore[misc,assignment]

ARTIFACT = "verticalkit_model"


class VerticalkitModel(PythonModel):  # type: ignore[misc,valid-type]
    """``load_context`` loads the Predictor from the logged folder; ``predict`` scores a DataFrame
    (or anything the head takes)."""

    def load_context(self, context: Any) -> None:
        self.predictor = Predictor.load(resolve_model_dir(context.artifacts[ARTIFACT]))

    def predict(self, context, model_input, params=None):  # no hints: MLflow reads them as a signature
        """Score ``model_input`` → DataFrame of score columns."""
        from .run import score_columns

        return score_columns(self.predictor.task, self.predictor.predict_score(model_input))


def _mlflow() -> Any:
    try:
        import mlflow
    except ImportError as e:
        raise ConfigError("MLflow logging needs mlflow: pip install 'verticalkit[mlflow]'") from e
    return mlflow


def _kwargs(model_dir: str | Path) -> dict[str, Any]:
    folder = resolve_model_dir(model_dir)
    if not (folder / "predictor.json").is_file():
        raise ConfigError(f"{model_dir}: no saved Predictor (predictor.json); pass a run or model folder")
    return {"python_model": VerticalkitModel(), "artifacts": {ARTIFACT: str(folder)},
            "pip_requirements": [f"verticalkit=={__version__}"]}


def save_predictor(model_dir: str | Path, path: str | Path, **kw: Any) -> Path:
    """Write an MLflow model folder at ``path`` wrapping the saved Predictor."""
    _mlflow().pyfunc.save_model(str(path), **_kwargs(model_dir), **kw)
    return Path(path)


def log_predictor(model_dir: str | Path, name: str = "model", **kw: Any) -> Any:
    """Log the saved Predictor to the active MLflow run; returns MLflow's ModelInfo."""
    mlflow = _mlflow()
    try:
        return mlflow.pyfunc.log_model(name=name, **_kwargs(model_dir), **kw)
    except TypeError:  # MLflow < 3 calls it artifact_path
        return mlflow.pyfunc.log_model(artifact_path=name, **_kwargs(model_dir), **kw)
