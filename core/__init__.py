"""verticalkit core: domain-agnostic training, evaluation, reporting, export and serving.

Laid out by concern; a sub-package imports only those before it in this list:

- top level: ``errors``, ``io``, ``config`` (foundation, import nothing else in core) and
  ``registry`` (the Vertical contract; imports core.data and core.heads)
- ``data``: dataset contracts, sources, catalogue, splits, table schemas
- ``heads``: Head / SklearnHead / TorchHead, weights, the Predictor
- ``evaluate``: metrics, bootstrap, calibration, thresholds, evaluator, report, model card
- ``train``: the train entry point, Trainer, callbacks, tracking, reproduce
- ``serve``: batch scoring, export, the HTTP server
- ``tools``: CLI, scaffold, conformance check

Nothing in core/ imports verticals/. The public surface is ``verticalkit`` itself (api/).
"""

__version__ = "0.1.0"
