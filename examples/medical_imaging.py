"""Medical imaging end to end: a MedMNIST flag → trained model → metrics with CIs, report with Grad-CAM.

    python examples/medical_imaging.py [--flag pneumoniamnist] [--model cnn] [--epochs 5] [--out runs/med-demo]

Reads ``<flag>.npz`` from $VERTICALKIT_DATA/<flag>/ or ~/.cache/verticalkit/<flag>/ (fetch it with
``verticalkit data fetch pneumoniamnist`` or pass --download). Also shows the DICOM → [0, 1]
pipeline on one of pydicom's bundled CT slices.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from verticalkit.core.errors import DataError
from verticalkit.core.train.run import build_config, train


def show_dicom() -> None:
    from pydicom.data import get_testdata_file

    from verticalkit.verticals.medical_imaging.dicom import read_dicom

    img = read_dicom(get_testdata_file("CT_small.dcm"), voi_mode="abdomen")
    print(f"CT_small.dcm -> {img.pixels.shape} in [{img.pixels.min():.2f}, {img.pixels.max():.2f}]")
    for step in img.steps:
        print("   ", step)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flag", default="pneumoniamnist", help="any MedMNIST 2D flag")
    ap.add_argument("--model", default="cnn", help="cnn | resnet18 | timm | mobilenet_v2 | logreg")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--out", default="runs/med-demo")
    ap.add_argument("--download", action="store_true", help="fetch the npz from Zenodo (md5-checked)")
    args = ap.parse_args(argv)
    show_dicom()
    sets = [f"train.epochs={args.epochs}", "seed=0", f"data.download={str(args.download).lower()}"]
    try:
        cfg = build_config("medical_imaging", args.flag, args.model, args.out, sets=sets)
        out = train(cfg, overwrite=True)
    except DataError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    metrics = json.loads((Path(out) / "metrics.json").read_text())
    for name in ("roc_auc", "accuracy", "auprc", "ece"):
        m = metrics["metrics"].get(name)
        if m:
            print(f"{name:>9}: {m['value']:.3f}  95% CI [{m['ci95'][0]:.3f}, {m['ci95'][1]:.3f}]")
    print(f"report (Grad-CAM gallery): {Path(out) / 'report.html'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
