"""Training runs: the ``train`` entry point and run directory (``run``), the torch
Trainer and its callbacks, MLflow tracking and the MLflow pyfunc flavour (``tracking``,
``mlflow_pyfunc``), and re-running reference results (``reproduce``).

May import: the core top level, core.data, core.heads and core.evaluate; not serve or tools,
and never verticals/.
"""
