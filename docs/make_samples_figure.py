"""Regenerate docs/synthetic_samples.png (one row per class, 64×64 patches at 1:1 scale):
python docs/make_samples_figure.py"""
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from carcourse.data import make_synthetic

PER_CLASS, GAP, MARGIN = 10, 3, 58
splits = make_synthetic(n_train=400, n_val=0, n_test_notcar=1, n_test_car=1, seed=0)
data = splits.train
g = torch.Generator().manual_seed(1)
width = MARGIN + PER_CLASS * (64 + GAP)
canvas = Image.new("RGB", (width, 2 * (64 + GAP) + GAP), "white")
draw = ImageDraw.Draw(canvas)
for row, name in enumerate(data.classes):
    members = (data.labels == row).nonzero().squeeze(1)
    pick = members[torch.randperm(len(members), generator=g)[:PER_CLASS]]
    y = GAP + row * (64 + GAP)
    draw.text((4, y + 26), name, fill="black")
    for j, i in enumerate(pick.tolist()):
        canvas.paste(Image.fromarray(data.images[i].permute(1, 2, 0).numpy()), (MARGIN + j * (64 + GAP), y))
canvas.save(Path(__file__).with_name("synthetic_samples.png"), optimize=True)
