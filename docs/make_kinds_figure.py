"""Regenerate docs/synthetic_kinds.png: the original generator's patches next to the street kinds
and car variants added for issue 18 (each tile labelled; 64×64 patches shown at 2×):
python docs/make_kinds_figure.py"""
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from carcourse import synthetic

NEW = ("pedestrian", "cyclist", "hedge", "pole", "bare_tree", "manhole", "round_structure", "sidewalk",
       "large_vehicle", "car_glass_roof", "car_tight_row", "car_dark_edge")
OLD = ("empty", "box", "marking", "cut_car", "motorbike", "car")
SHORT = {"round_structure": "round/curve", "large_vehicle": "bus/truck", "car_glass_roof": "car: glass",
         "car_tight_row": "car: row", "car_dark_edge": "car: edge"}
TILE, GAP, LABEL, SCALE = 64, 4, 14, 2


def examples(options, kinds, per_kind, seed):
    """per_kind patches (uint8 HWC) of each kind, rendered with `options`."""
    labels = torch.tensor([0] * 700 + [1] * 260)
    images, meta = synthetic.render_with_meta(labels, seed=seed, options=options)
    out = {}
    for kind in kinds:
        idx = np.nonzero(meta["kind"] == kind)[0][:per_kind]
        out[kind] = [images[i].permute(1, 2, 0).numpy() for i in idx]
    return out


def main() -> Path:
    old = examples(synthetic.ORIGINAL, OLD, 2, seed=11)
    new = examples(synthetic.Options(), NEW, 2, seed=11)
    cols = len(NEW)
    cell = TILE + GAP
    height = 4 + 2 * (2 * LABEL + 2 * cell) - cell + 8
    canvas = Image.new("RGB", (cols * cell + GAP, height), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((GAP, 2), "new street kinds and car variants (not-car: first nine; car: last three)", fill="black")
    y0 = LABEL + 4
    for c, kind in enumerate(NEW):
        x = GAP + c * cell
        draw.text((x, y0), SHORT.get(kind, kind), fill="black")
        for r, img in enumerate(new[kind]):
            canvas.paste(Image.fromarray(img), (x, y0 + LABEL + r * cell))
    y1 = y0 + LABEL + 2 * cell + 6
    draw.text((GAP, y1), "the original generator (all issue-18 switches off)", fill="black")
    for c, kind in enumerate(OLD):
        x = GAP + 2 * c * cell
        draw.text((x, y1 + LABEL), kind, fill="black")
        for r, img in enumerate(old[kind]):
            canvas.paste(Image.fromarray(img), (x + r * cell, y1 + 2 * LABEL))
    canvas = canvas.resize((canvas.width * SCALE, canvas.height * SCALE), Image.NEAREST)
    path = Path(__file__).with_name("synthetic_kinds.png")
    canvas.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
    return path


if __name__ == "__main__":
    p = main()
    print(p, p.stat().st_size // 1024, "KB")
