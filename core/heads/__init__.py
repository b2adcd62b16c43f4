"""Model heads and the trained model: the Head contract and SklearnHead with safe
persistence (``base``, ``packing``), TorchHead (``torch_head``) and its weights (``checkpoint``),
and the Predictor that wraps every trained head (``predictor``) with its file manifest
(``manifest``).

May import: the core top level (errors, io, config) and core.data; not train, evaluate, serve
or tools, and never verticals/.
"""
