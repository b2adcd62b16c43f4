"""Head families: generic heads that take their column names / input keys as parameters, so a
vertical composes them (``TfidfLinearText(text_column="review_body")``) instead of copying.

* tabular: :class:`LinearTabular`, :class:`GBDTTabular`, :class:`MLPTabular`, and the boosting
  libraries :class:`LightGBMTabular`, :class:`XGBoostTabular` (in :mod:`.boosters`; lightgbm /
  xgboost imported on first fit or load)
* text: :class:`TfidfLinearText`, :class:`HandcraftedText`, :class:`FrozenEncoderText`,
  :class:`FineTunedEncoderText` (imports torch: loaded on first use)
* image: :class:`CNNImage`, :class:`TimmImage` (import torch: loaded on first use); the timm pieces
  (``TimmNet``, ``check_backbone``, ``load_timm_weights``) in :mod:`.image`, the torch-free input
  conversion (crop, resize, channel matching) in :mod:`.pixels`

Each follows the head contract of :mod:`verticalkit.core.heads.base` (classification or regression
chosen by the run's task) and saves without pickle (skops with type allow-lists, safetensors, a
booster's own text / JSON model file).

May import: the core top level (errors, io, config, progress), core.data (sources: the weights
folders), core.heads and core.train's Trainer (torch heads); not evaluate, serve or tools, and
never verticals/.
"""

from __future__ import annotations

from typing import Any

from .boosters import LightGBMTabular, XGBoostTabular
from .tabular import GBDTTabular, LinearTabular, MLPTabular
from .text import FrozenEncoderText, HandcraftedText, TfidfLinearText

FAMILIES = {
    "tabular": ("LinearTabular", "GBDTTabular", "MLPTabular", "LightGBMTabular", "XGBoostTabular"),
    "text": ("TfidfLinearText", "HandcraftedText", "FrozenEncoderText", "FineTunedEncoderText"),
    "image": ("CNNImage", "TimmImage"),
}
__all__ = [name for names in FAMILIES.values() for name in names]


def __getattr__(name: str) -> Any:
    if name in FAMILIES["image"]:  # torch is imported only when a torch head is asked for
        from . import image

        return getattr(image, name)
    if name == "FineTunedEncoderText":
        from .finetune import FineTunedEncoderText

        return FineTunedEncoderText
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
