"""verticalkit core: domain-agnostic training, evaluation, reporting, export and serving."""

__version__ = "0.1.0"
