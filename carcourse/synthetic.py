"""Procedural aerial patches: top-down cars and the things that look like them.

Every image is drawn from a handful of per-image parameters (scene type, sun, car size, heading,
colour, ...) by whole-batch tensor arithmetic on a pixel grid: there is no per-image Python loop.
Each object kind is drawn on the sub-batch that has it, so rare kinds cost little.

Geometry is in pixels at a ground sampling distance (GSD) of 10-15 cm per pixel, drawn per image.
A 64 px patch therefore covers 6.4-9.6 m of ground, and a 4.5 m car spans 30-45 px. One sun per
patch: every object casts its shadow in the same direction, as long as its height times the sun's
shadow ratio.

Class 1 ("car"): one car whose centre lies near the patch centre, mostly visible (plain, with a
glass roof, in a tight row, or beside a dark edge). Class 0 ("notcar"): empty ground, and the
things a street has that a small model mistakes for a car: car-sized boxes, road markings, cars cut
by the patch edge (centre outside the patch, so at most half visible), motorcycles, pedestrians and
cyclists with long shadows, hedges and bushes, poles with long thin shadows, bare trees and their
branch shadows, manholes and drains, curved kerbs and round structures, light sidewalks with joints
and planters, and parts of buses and trucks.

`Options` switches each group of realism on or off (so a lesson can show what each adds) and
carries the shifts of `carcourse.shifts` (ground resolution, atmosphere, low sun, scene mix).
`render_with_meta` returns, beside the images, what was rendered in every image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

Tensor = torch.Tensor

# Scene (ground) types.
SCENES = ("asphalt", "parking", "grass", "soil", "roof", "paving", "sidewalk")
ASPHALT, PARKING, GRASS, SOIL, ROOF, PAVING, SIDEWALK = range(7)
# Not-car kinds (class 0) and their shares in a street scene; the first five are the original
# generator's (STREET_KINDS off renders only those, in their original shares).
NOTCAR_KINDS = ("empty", "box", "marking", "cut_car", "motorbike", "pedestrian", "cyclist", "hedge",
                "pole", "bare_tree", "manhole", "round_structure", "sidewalk", "large_vehicle")
(EMPTY, BOX, MARKING, CUT_CAR, MOTORBIKE, PEDESTRIAN, CYCLIST, HEDGE, POLE, BARE_TREE, MANHOLE,
 ROUND, SIDEWALK_KIND, LARGE_VEHICLE) = range(14)
NOTCAR_MIX_ORIGINAL = {"empty": 0.30, "box": 0.22, "marking": 0.15, "cut_car": 0.23, "motorbike": 0.10}
NOTCAR_MIX_STREET = {"empty": 0.15, "box": 0.10, "marking": 0.08, "cut_car": 0.17, "motorbike": 0.05,
                     "pedestrian": 0.06, "cyclist": 0.03, "hedge": 0.06, "pole": 0.05,
                     "bare_tree": 0.04, "manhole": 0.04, "round_structure": 0.04, "sidewalk": 0.06,
                     "large_vehicle": 0.07}
# Car variants (class 1) and their shares when CAR_DETAIL is on.
CAR_VARIANTS = ("plain", "glass_roof", "tight_row", "dark_edge")
CAR_VARIANT_MIX = (0.55, 0.20, 0.15, 0.10)
BODY_TYPES = ("compact", "saloon", "suv", "van")

# Scene shares per not-car kind (rows in NOTCAR_KINDS order) and for cars: columns in SCENES order.
SCENE_MIX_NOTCAR = (
    (0.22, 0.25, 0.17, 0.10, 0.11, 0.15, 0.00),  # empty
    (0.15, 0.15, 0.10, 0.10, 0.40, 0.10, 0.00),  # box: mostly rooftop units
    (0.40, 0.60, 0.00, 0.00, 0.00, 0.00, 0.00),  # marking
    (0.35, 0.55, 0.00, 0.00, 0.00, 0.10, 0.00),  # cut car
    (0.22, 0.25, 0.17, 0.10, 0.11, 0.15, 0.00),  # motorbike
    (0.25, 0.05, 0.05, 0.00, 0.00, 0.25, 0.40),  # pedestrian
    (0.50, 0.05, 0.00, 0.00, 0.00, 0.15, 0.30),  # cyclist
    (0.05, 0.05, 0.10, 0.05, 0.00, 0.30, 0.45),  # hedge: dark bushes on light pavement
    (0.35, 0.10, 0.05, 0.00, 0.00, 0.15, 0.35),  # pole
    (0.20, 0.15, 0.25, 0.10, 0.00, 0.10, 0.20),  # bare tree
    (0.60, 0.10, 0.00, 0.00, 0.00, 0.10, 0.20),  # manhole / drain
    (0.25, 0.10, 0.20, 0.00, 0.10, 0.15, 0.20),  # round structure / curved kerb
    (0.00, 0.00, 0.00, 0.00, 0.00, 0.00, 1.00),  # sidewalk with joints and planters
    (0.75, 0.15, 0.00, 0.00, 0.00, 0.00, 0.10),  # large vehicle
)
SCENE_MIX_CAR = (0.30, 0.45, 0.03, 0.02, 0.02, 0.18, 0.00)

CHUNK = 256  # images rendered per batch; fixed so that a seed always gives the same bytes


@dataclass(frozen=True)
class Options:
    """What the generator renders. The switches (all on by default) add one group of realism
    each; the other fields move the distribution (the named shifts of carcourse.shifts).

    street_kinds: the street confusers (pedestrians, hedges, poles, ...) among the not-cars.
    car_detail: glass roofs, 3-D body shading, specular highlights, tight rows, dark edges.
    texture: asphalt grain and aggregate, concrete slabs with joints.
    directional_light: low sun included (long shadows), shadows swept from the object's top.
    jpeg / chroma_noise / motion_blur: the camera's compression, colour noise and smear.
    scale: object size factor (1.25 = cars 25 % larger: finer ground resolution).
    atmosphere: factor on haze, blur and sensor noise.
    low_sun: shadows 2.2-3.5 × the object's height, warm light.
    car_colours: "default" or "vivid" (another colour mix).
    scene_mix: "default" or "roofs_grass" (more roofs and grass in the negatives, cars on verges).
    notcar_mix: shares per not-car kind, overriding the default (kinds left out are not drawn).
    """

    street_kinds: bool = True
    car_detail: bool = True
    texture: bool = True
    directional_light: bool = True
    jpeg: bool = True
    chroma_noise: bool = True
    motion_blur: bool = True
    scale: float = 1.0
    atmosphere: float = 1.0
    low_sun: bool = False
    car_colours: str = "default"
    scene_mix: str = "default"
    notcar_mix: dict | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if not 0.3 <= self.scale <= 3:
            raise ValueError(f"Options.scale must be in [0.3, 3], got {self.scale}")
        if not 0 <= self.atmosphere <= 5:
            raise ValueError(f"Options.atmosphere must be in [0, 5], got {self.atmosphere}")
        if self.car_colours not in ("default", "vivid"):
            raise ValueError(f"Options.car_colours must be 'default' or 'vivid', got {self.car_colours!r}")
        if self.scene_mix not in ("default", "roofs_grass"):
            raise ValueError(f"Options.scene_mix must be 'default' or 'roofs_grass', got {self.scene_mix!r}")
        if self.notcar_mix is not None:
            unknown = sorted(set(self.notcar_mix) - set(NOTCAR_KINDS))
            if unknown or sum(self.notcar_mix.values()) <= 0 or min(self.notcar_mix.values()) < 0:
                raise ValueError(f"Options.notcar_mix needs non-negative shares of {NOTCAR_KINDS} "
                                 f"summing to > 0; got {self.notcar_mix}")

    def kind_shares(self) -> tuple[float, ...]:
        """Share of each not-car kind (NOTCAR_KINDS order), summing to 1."""
        mix = self.notcar_mix or (NOTCAR_MIX_STREET if self.street_kinds else NOTCAR_MIX_ORIGINAL)
        shares = [float(mix.get(k, 0.0)) for k in NOTCAR_KINDS]
        return tuple(s / sum(shares) for s in shares)

    def without(self, *kinds: str) -> "Options":
        """These options with the given not-car kinds never drawn (the others keep their ratios)."""
        shares = dict(zip(NOTCAR_KINDS, self.kind_shares()))
        for k in kinds:
            if k not in shares:
                raise ValueError(f"unknown not-car kind {k!r}; known: {NOTCAR_KINDS}")
            shares[k] = 0.0
        return replace(self, notcar_mix=shares)


SWITCHES = ("street_kinds", "car_detail", "texture", "directional_light", "jpeg", "chroma_noise",
            "motion_blur")
ORIGINAL = Options(**{name: False for name in SWITCHES})  # every issue-18 addition off


# --------------------------------------------------------------------------------------------
# small helpers: random draws and pixel-grid geometry
# --------------------------------------------------------------------------------------------
def _u(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    """n uniform draws in [lo, hi), shaped (n, 1, 1) to broadcast over the pixel grid."""
    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1)


def _p(g: torch.Generator, n: int, prob: float) -> Tensor:
    """n Bernoulli(prob) draws as floats shaped (n, 1, 1)."""
    return (torch.rand(n, generator=g) < prob).float().view(n, 1, 1)


def _choice(g: torch.Generator, n: int, probs) -> Tensor:
    """n categorical draws (int64, shape (n,)); probs is one row or an (n, k) table."""
    p = torch.as_tensor(probs, dtype=torch.float)
    if p.dim() == 1:
        return torch.multinomial(p, n, replacement=True, generator=g)
    return torch.multinomial(p, 1, generator=g).view(n)


def _grid(size: int) -> tuple[Tensor, Tensor]:
    c = torch.arange(size, dtype=torch.float) + 0.5
    return c.view(1, 1, size), c.view(1, size, 1)  # x (columns), y (rows)


def _frame(x: Tensor, y: Tensor, cx: Tensor, cy: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
    """Pixel coordinates in an object's frame: u along its heading, v across it."""
    dx, dy = x - cx, y - cy
    c, s = torch.cos(theta), torch.sin(theta)
    return dx * c + dy * s, -dx * s + dy * c


def _rect(u: Tensor, v: Tensor, a: Tensor, b: Tensor, power: int = 6, soft: float = 0.6) -> Tensor:
    """Anti-aliased superellipse of half-axes a (along u) and b (across): power 2 is an ellipse,
    large even powers are boxes with rounded corners. Returns coverage in [0, 1].

    The signed edge distance 1 - r is taken as -log(r**p) / p: exact in r, one log, no root."""
    qu, qv = u / a, v / b
    qu, qv = qu * qu, qv * qv
    pu, pv = qu, qv
    for _ in range(power // 2 - 1):
        pu, pv = pu * qu, pv * qv
    rp = (pu + pv).clamp_min(1e-20)
    return torch.sigmoid(torch.log(rp) * (-torch.minimum(a, b) / (soft * power)))


def _rect_area(power: int) -> float:
    """Area of the unit superellipse |u|^p + |v|^p <= 1 divided by its bounding box (4)."""
    return math.exp(2 * math.lgamma(1 + 1 / power) - math.lgamma(1 + 2 / power))


def _band(t: Tensor, lo, hi, soft: float = 0.5) -> Tensor:
    """Soft indicator of lo <= t <= hi."""
    return torch.sigmoid((t - lo) / soft) * torch.sigmoid((hi - t) / soft)


def _segment(x, y, ax, ay, dx, dy, length, half_width, soft: float = 0.5) -> Tensor:
    """Coverage of a thick line from (ax, ay) along the unit direction (dx, dy) for `length` px."""
    px, py = x - ax, y - ay
    t = torch.minimum((px * dx + py * dy).clamp_min(0), length)
    ex, ey = px - t * dx, py - t * dy
    return torch.sigmoid((half_width - torch.sqrt(ex * ex + ey * ey + 1e-6)) / soft)


def _noise(g: torch.Generator, n: int, size: int, cells: int) -> Tensor:
    """Smooth value noise with `cells` random values across the patch, in about [-1, 1]."""
    base = torch.rand(n, 1, cells + 1, cells + 1, generator=g) * 2 - 1
    up = F.interpolate(base, size=(size + size // cells, size + size // cells), mode="bicubic",
                       align_corners=False)
    return up[:, 0, :size, :size]


def _blend(img: Tensor, mask: Tensor, colour: Tensor) -> Tensor:
    """Paint `colour` ((n,3,1,1) or (n,3,H,W)) over img with coverage mask (n,H,W)."""
    return torch.lerp(img, colour.expand_as(img), mask.unsqueeze(1))


def _darken(img: Tensor, mask: Tensor, amount) -> Tensor:
    """img dimmed by amount × mask (a shadow)."""
    return img * (1 - amount * mask).unsqueeze(1)


def _take(arg, idx: Tensor, n: int):
    """Slice per-image arguments (tensors with n rows, a Sun, and tuples/dicts of them) to rows idx."""
    if isinstance(arg, Sun):
        return arg.take(idx, n)
    if isinstance(arg, Tensor):
        return arg[idx] if arg.dim() and arg.shape[0] == n and n > 1 else arg
    if isinstance(arg, tuple):
        return tuple(_take(a, idx, n) for a in arg)
    if isinstance(arg, dict):
        return {k: _take(a, idx, n) for k, a in arg.items()}
    return arg


def _draw_where(mask: Tensor, fn, g: torch.Generator, img: Tensor, *args) -> Tensor:
    """img with fn(g, img, *args) applied to the images where mask (n,) is true, and only those:
    objects are drawn on the sub-batch that has them, so rare objects cost little."""
    n = img.shape[0]
    idx = mask.view(n).nonzero().squeeze(1)
    if idx.numel():  # in place: every caller owns img (indexing hands fn a copy)
        img[idx] = fn(g, img[idx], *(_take(a, idx, n) for a in args))
    return img


def _rgb(r, g_, b) -> Tensor:
    return torch.stack([r, g_, b], dim=1)  # (n,3,1,1) from three (n,1,1)


def _grey(g: torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    return _rgb(*[_u(g, n, lo, hi)] * 3)


@dataclass
class Sun:
    """One sun per patch: unit shadow direction (dx, dy), shadow length per metre of height,
    shadow darkness, and whether shadows are swept from the object's top (long) or offset."""

    dx: Tensor
    dy: Tensor
    ratio: Tensor
    dark: Tensor
    swept: bool

    def offset(self, height, gsd) -> tuple[Tensor, Tensor]:
        """Pixel offset of the shadow of a point `height` metres above the ground."""
        length = height * self.ratio / gsd
        return length * self.dx, length * self.dy

    def take(self, idx: Tensor, n: int) -> "Sun":
        return Sun(*(_take(t, idx, n) for t in (self.dx, self.dy, self.ratio, self.dark)), self.swept)


def _shadow(img, sun: Sun, height, gsd, shape) -> Tensor:
    """Cast shadow of a flat-topped object of `height` metres whose outline is shape(ox, oy)
    (a function of the offset it is drawn at): offset once, or swept in three steps."""
    ox, oy = sun.offset(height, gsd)
    if sun.swept:
        mask = torch.maximum(torch.maximum(shape(ox / 3, oy / 3), shape(ox * 2 / 3, oy * 2 / 3)),
                             shape(ox, oy))
    else:
        mask = shape(ox, oy)
    return _darken(img, mask, sun.dark)


# --------------------------------------------------------------------------------------------
# ground
# --------------------------------------------------------------------------------------------
def _ground_colour(g: torch.Generator, kind: Tensor) -> Tensor:
    """Base colour per image for each scene type, shape (n,3,1,1)."""
    n = kind.numel()
    grey = _u(g, n, 0.17, 0.42)
    tint = _u(g, n, -0.015, 0.02)
    asphalt = _rgb(grey, grey + tint * 0.5, grey + tint)
    grass = _rgb(_u(g, n, 0.18, 0.32), _u(g, n, 0.30, 0.45), _u(g, n, 0.10, 0.20))
    soil = _rgb(_u(g, n, 0.38, 0.55), _u(g, n, 0.30, 0.42), _u(g, n, 0.20, 0.30))
    roof_grey = _u(g, n, 0.40, 0.72)
    roof_red = _p(g, n, 0.3)
    roof = _rgb(roof_grey, roof_grey * (1 - 0.45 * roof_red), roof_grey * (1 - 0.55 * roof_red))
    pave = _u(g, n, 0.45, 0.66)
    paving = _rgb(pave, pave * 0.98, pave * 0.94)
    concrete = _u(g, n, 0.58, 0.80)
    sidewalk = _rgb(concrete, concrete * 0.99, concrete * 0.95)
    table = torch.stack([asphalt, asphalt, grass, soil, roof, paving, sidewalk], dim=0)  # (7,n,3,1,1)
    return table[kind, torch.arange(n)]


def _hash2(i: Tensor, j: Tensor, salt: Tensor) -> Tensor:
    """A repeatable pseudo-random value in [0, 1) per integer cell (i, j) and image salt."""
    h = torch.sin(i * 12.9898 + j * 78.233 + salt * 37.719) * 43758.5453
    return h - torch.floor(h)


def _ground(g: torch.Generator, kind: Tensor, x: Tensor, y: Tensor, phi: Tensor,
            off: tuple, gsd: Tensor, fields: dict[str, Tensor], texture: bool) -> Tensor:
    """Textured ground of the given types: asphalt with wear and cracks, parking bays, grass,
    soil, roofs with seams, paving and sidewalk slabs with joints."""
    n, size = kind.numel(), x.shape[-1]
    k = kind.view(n, 1, 1)
    img = _ground_colour(g, kind).expand(n, 3, size, size).clone()
    fine, mid, coarse = fields["fine"], fields["mid"], fields["coarse"]
    # texture amplitude per type: asphalt, parking, grass, soil, roof, paving, sidewalk
    amp_fine = torch.tensor([0.035, 0.035, 0.07, 0.05, 0.02, 0.025, 0.02])[k]
    amp_coarse = torch.tensor([0.05, 0.05, 0.08, 0.07, 0.03, 0.03, 0.03])[k]
    shade = 1 + amp_fine * fine + amp_coarse * coarse * _u(g, n, 0.3, 1.0)
    # asphalt wear: dark oil stains and lighter worn patches, plus wiggly cracks
    is_asphalt = (k <= PARKING).float()
    stain = torch.relu(mid - 0.35) * _u(g, n, -0.25, 0.15) * is_asphalt
    crack = torch.sigmoid((0.05 - (coarse + 0.3 * mid).abs()) * 40) * _p(g, n, 0.5) * is_asphalt
    shade = shade * (1 + stain - 0.35 * crack)
    u, v = _frame(x, y, off[0], off[1], phi)  # the scene's frame: bays, seams and joints follow it
    # roof seams / tiles: periodic dark lines along the scene heading
    seam = (torch.cos(2 * math.pi * v / _u(g, n, 5, 12)) > 0.85).float()
    shade = shade * (1 - 0.25 * seam * (k == ROOF).float())
    # paving joints (a square grid) and sidewalk slabs (1.2-2 m, with expansion joints)
    cell = torch.where(k == SIDEWALK, _u(g, n, 1.2, 2.0) / gsd, _u(g, n, 6, 11))
    ju, jv = torch.remainder(u, cell), torch.remainder(v, cell)
    joint = ((ju < 0.9) | (jv < 0.9)).float()
    slabbed = ((k == PAVING) | (k == SIDEWALK)).float()
    shade = shade * (1 - 0.18 * joint * slabbed)
    if texture:
        salt = _u(g, n, 0, 100)
        grain = torch.randn(n, size, size, generator=g)
        stones = (grain > 1.75).float() * _u(g, n, -0.15, 0.2)  # 4 % of pixels: aggregate
        slab = _hash2(torch.floor(u / cell), torch.floor(v / cell), salt) - 0.5
        shade = shade * (1 + is_asphalt * (0.045 * grain + stones)
                         + slabbed * (0.10 * slab + 0.015 * grain)
                         + (k == ROOF).float() * 0.015 * grain)
    img = img * shade.unsqueeze(1)
    # parking bays: lines along the heading every 2.5 m across it, ending at an aisle
    bay = 2.5 / gsd
    pos = torch.remainder(v + bay / 2, bay)
    bay_line = _band(pos, 0, 0.12 / gsd + 0.6) + _band(pos, bay - 0.12 / gsd - 0.6, bay)
    aisle = torch.sigmoid((u - off[2]) / 0.5)  # lines only on one side of the aisle edge
    paint_alpha = (k == PARKING).float() * bay_line.clamp(0, 1) * aisle
    paint_alpha = paint_alpha * (0.55 + 0.45 * (fine * 0.5 + 0.5)) * _u(g, n, 0.6, 1.0)
    paint = _rgb(*[_u(g, n, 0.80, 0.92)] * 2, _u(g, n, 0.55, 0.9))  # white to yellowish
    return _blend(img, paint_alpha, paint)


def _kerb(g, img, other, x, y, phi, off, gsd, fields, at, texture) -> Tensor:
    """A second ground type behind a straight kerb line through `at` (x, y, angle)."""
    n = img.shape[0]
    img2 = _ground(g, other, x, y, phi, off, gsd, fields, texture)
    ku, _ = _frame(x, y, *at)
    side = torch.sigmoid(ku / 0.6).unsqueeze(1)
    img = torch.lerp(img, img2, side)
    kerb = _band(ku, -0.15 / gsd - 0.5, 0.15 / gsd + 0.5, soft=0.4)
    return _blend(img, kerb, _grey(g, n, 0.55, 0.72))


def _dark_edge(g, img, x, y, cx, cy, theta, dist, sun) -> Tensor:
    """A dark region (a building's shadow, an overpass rim) beyond a straight edge parallel to
    theta at `dist` px across from (cx, cy)."""
    n = img.shape[0]
    _, v = _frame(x, y, cx, cy, theta)
    beyond = torch.sigmoid((v - dist) / 0.7)
    img = _darken(img, beyond, _u(g, n, 0.45, 0.8))
    rim = _band(v - dist, -0.6, 0.6, soft=0.4) * _p(g, n, 0.5)  # a lit parapet or kerb line
    return _blend(img, rim * 0.7, _grey(g, n, 0.5, 0.75))


# --------------------------------------------------------------------------------------------
# cars
# --------------------------------------------------------------------------------------------
CAR_COLOURS = (  # name, share, share in the "vivid" shift, RGB (reflectance)
    ("white", 0.25, 0.10, (0.86, 0.87, 0.88)),
    ("black", 0.20, 0.08, (0.06, 0.06, 0.07)),
    ("grey", 0.17, 0.08, (0.38, 0.39, 0.41)),
    ("silver", 0.15, 0.06, (0.66, 0.67, 0.69)),
    ("red", 0.08, 0.22, (0.62, 0.09, 0.08)),
    ("blue", 0.08, 0.18, (0.10, 0.20, 0.50)),
    ("beige", 0.04, 0.08, (0.55, 0.50, 0.38)),
    ("green", 0.03, 0.10, (0.15, 0.32, 0.16)),
    ("yellow", 0.00, 0.10, (0.80, 0.65, 0.10)),
)
WHITE, BLACK, SILVER = 0, 1, 3


def _car_colour_index(g: torch.Generator, n: int, vivid: bool) -> Tensor:
    return _choice(g, n, [c[2] if vivid else c[1] for c in CAR_COLOURS])


def _car_colour(g: torch.Generator, idx: Tensor) -> Tensor:
    n = idx.numel()
    base = torch.tensor([c[3] for c in CAR_COLOURS])[idx].view(n, 3, 1, 1)
    jitter = 1 + 0.08 * (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1)
    return (base * jitter).clamp(0, 1)


def _car_size(g: torch.Generator, n: int, gsd: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Half-length and half-width in pixels, a van flag and the body type index:
    compact, saloon, SUV, van."""
    kind = _choice(g, n, [0.30, 0.40, 0.15, 0.15]).view(n, 1, 1)
    lo = torch.tensor([3.5, 4.3, 4.4, 4.9])[kind]
    hi = torch.tensor([4.2, 4.9, 4.9, 5.9])[kind]
    wlo = torch.tensor([1.62, 1.72, 1.82, 1.90])[kind]
    whi = torch.tensor([1.75, 1.86, 2.00, 2.10])[kind]
    length = lo + (hi - lo) * torch.rand(n, 1, 1, generator=g)
    width = wlo + (whi - wlo) * torch.rand(n, 1, 1, generator=g)
    return length / gsd / 2, width / gsd / 2, (kind == 3).float(), kind.view(n)


def _car(g, img, x, y, cx, cy, theta, a, b, van, colour, roof_glass, sun, gsd, fine,
         detail: bool) -> Tensor:
    """Draw a top-down car (shadow first) at (cx, cy) heading theta into img. roof_glass:
    0 none, 1 sunroof, 2 panoramic glass roof (drawn when `detail`)."""
    n = img.shape[0]
    img = _shadow(img, sun, 1.5, gsd, lambda ox, oy: _rect(*_frame(x, y, cx + ox, cy + oy, theta),
                                                          a * 1.02, b * 1.08, power=6, soft=1.0))
    u, v = _frame(x, y, cx, cy, theta)
    body = _rect(u, v, a, b, power=6, soft=0.6)
    t = u / a  # -1 rear ... +1 front
    w = v.abs() / b
    # body shading: darker towards the rounded sides, a soft highlight along the roof
    shade = (1 - 0.28 * w ** 4) * (1 + 0.08 * torch.exp(-((v / b - 0.15) ** 2) / 0.08))
    ws_lo = 0.18 + 0.37 * van + 0.06 * torch.rand(n, 1, 1, generator=g)
    ws_hi = ws_lo + 0.25 - 0.05 * van
    rw_hi = -0.30 - 0.05 * torch.rand(n, 1, 1, generator=g)
    if detail:  # 3-D: the side facing the sun lit, the far side dim, roof plateau brighter
        c, s = torch.cos(theta), torch.sin(theta)
        lu, lv = -(sun.dx * c + sun.dy * s), -(-sun.dx * s + sun.dy * c)  # towards the sun
        nu, nv = torch.sign(u) * t.abs() ** 5, torch.sign(v) * w ** 3
        roof = _band(t, rw_hi, ws_lo, soft=0.08) * (w < 0.75).float()
        shade = shade * (1 + 0.30 * (nu * lu + nv * lv)) * (1 + 0.06 * roof)
    paint = (colour * shade.unsqueeze(1)) * (1 + 0.02 * fine.unsqueeze(1))
    img = _blend(img, body, paint)
    # glass: windscreen, rear window (not on vans), side windows along the cabin
    glass = _rgb(_u(g, n, 0.06, 0.16), _u(g, n, 0.08, 0.18), _u(g, n, 0.10, 0.24))
    glass = glass * (1 + 0.5 * (0.5 + 0.5 * torch.tanh(v / b * 2)).unsqueeze(1))  # sky sheen
    narrow = 0.80 - 0.10 * (t - ws_lo) / (ws_hi - ws_lo)  # windscreen tapers to the front
    windscreen = _band(t * a, ws_lo * a, ws_hi * a) * torch.sigmoid((narrow - w) * b / 0.5)
    rear = _band(t * a, (rw_hi - 0.22) * a, rw_hi * a) * torch.sigmoid((0.74 - w) * b / 0.5) * (1 - van)
    cabin_lo = torch.where(van > 0, -0.9 * torch.ones_like(rw_hi), rw_hi)
    side = _band(t * a, cabin_lo * a, ws_lo * a) * _band(w * b, 0.74 * b, 0.90 * b, soft=0.4)
    glass_alpha = windscreen + rear + 0.8 * side
    if detail:
        panoramic = _band(t * a, rw_hi * a, ws_lo * a) * torch.sigmoid((0.72 - w) * b / 0.5)
        mid = (rw_hi + ws_lo) / 2
        sunroof = _rect(u - mid * a, v, 0.13 * a, 0.42 * b, power=8, soft=0.5)
        glass_alpha = glass_alpha + (roof_glass == 2).float() * panoramic + (roof_glass == 1).float() * sunroof
    img = _blend(img, glass_alpha.clamp(0, 1) * body, glass)
    # mirrors just ahead of the cabin
    for sgn in (-1.0, 1.0):
        m = _rect(u - ws_lo * a, v - sgn * (b + 0.1 / gsd), 0.12 / gsd + 0.4, 0.1 / gsd + 0.3,
                  power=2, soft=0.4)
        img = _blend(img, m * 0.8, colour)
    if detail:  # specular highlight: the sun's glint on the curved roof / bonnet, towards the sun
        hu, hv = (lu * 0.35 + _u(g, n, -0.3, 0.5)) * a, lv * 0.45 * b
        spot = torch.exp(-((u - hu) / (0.22 * a)) ** 2 - ((v - hv) / (0.25 * b)) ** 2)
        img = _blend(img, spot * body * _u(g, n, 0.0, 0.7), torch.ones(1, 3, 1, 1))
    return img


# --------------------------------------------------------------------------------------------
# the original hard negatives
# --------------------------------------------------------------------------------------------
def _box(g, img, x, y, cx, cy, theta, sun, gsd, fine, on_roof) -> Tensor:
    """A car-sized box: a rooftop HVAC unit, a shipping container or a skip."""
    n = img.shape[0]
    kind = torch.where(on_roof.view(n) > 0, torch.zeros(n, dtype=torch.long),
                       _choice(g, n, [0.2, 0.45, 0.35])).view(n, 1, 1)
    length = torch.tensor([3.0, 6.06, 3.6])[kind] * _u(g, n, 0.8, 1.15)
    width = torch.tensor([1.8, 2.44, 1.8])[kind] * _u(g, n, 0.85, 1.1)
    a, b = length / gsd / 2, width / gsd / 2
    img = _shadow(img, sun, 2.0, gsd, lambda ox, oy: _rect(*_frame(x, y, cx + ox, cy + oy, theta),
                                                          a, b, power=12, soft=0.8))
    u, v = _frame(x, y, cx, cy, theta)
    body = _rect(u, v, a, b, power=12, soft=0.5)
    hvac = _grey(g, n, 0.55, 0.85)
    cont = _rgb(_u(g, n, 0.1, 0.75), _u(g, n, 0.1, 0.45), _u(g, n, 0.08, 0.45))
    skip = _rgb(_u(g, n, 0.5, 0.85), _u(g, n, 0.35, 0.6), _u(g, n, 0.02, 0.15))
    colour = torch.stack([hvac, cont, skip])[kind.view(n), torch.arange(n)]
    # surface detail: fan discs on HVAC units, corrugation on containers, dark interior on skips
    fan = _rect(torch.remainder(u + a, 2 * b) - b, v, 0.7 * b, 0.7 * b, power=2, soft=0.5)
    ribs = (torch.cos(2 * math.pi * u / (0.3 / gsd + 1.2)) > 0.3).float()
    inner = _rect(u, v, a * 0.85, b * 0.72, power=8, soft=0.5)
    detail = torch.where(kind == 0, 1 - 0.5 * fan, torch.where(kind == 1, 1 - 0.15 * ribs,
                                                                  1 - 0.55 * inner))
    return _blend(img, body, colour * (detail * (1 + 0.03 * fine)).unsqueeze(1))


def _marking(g, img, x, y, cx, cy, theta, gsd, fine) -> Tensor:
    """Road paint: a direction arrow, a zebra crossing or a block of dashed lines."""
    n = img.shape[0]
    kind = _choice(g, n, [0.4, 0.3, 0.3]).view(n, 1, 1)
    u, v = _frame(x, y, cx, cy, theta)
    shaft = _rect(u + 8, v, 0.5 * torch.ones_like(cx) * 16, 0.15 / gsd + 0.5, power=12, soft=0.4)
    head = _band(u, 0, 1.6 / gsd) * torch.sigmoid(((1.6 / gsd - u) * 0.5 - v.abs()) / 0.4)
    arrow = (shaft + head).clamp(0, 1)
    zebra = (torch.cos(2 * math.pi * v / (1.0 / gsd)) > 0).float() * _band(u, -2.0 / gsd, 2.0 / gsd)
    dashes = (torch.remainder(u, 3.0 / gsd) < 1.5 / gsd).float() * (
        _band(torch.remainder(v, 1.2 / gsd), 0, 0.15 / gsd + 0.6))
    alpha = torch.where(kind == 0, arrow, torch.where(kind == 1, zebra, dashes))
    alpha = alpha * (0.6 + 0.4 * (fine * 0.5 + 0.5)) * _u(g, n, 0.6, 1.0)
    paint = _rgb(*[_u(g, n, 0.78, 0.92)] * 2, _u(g, n, 0.45, 0.9))
    return _blend(img, alpha, paint)


def _motorbike(g, img, x, y, cx, cy, theta, colour, sun, gsd) -> Tensor:
    a, b = 1.05 / gsd + 0 * cx, 0.4 / gsd + 0 * cx
    img = _shadow(img, sun, 1.0, gsd, lambda ox, oy: _rect(*_frame(x, y, cx + ox, cy + oy, theta),
                                                          a, b * 0.8, power=2, soft=0.6))
    u, v = _frame(x, y, cx, cy, theta)
    img = _blend(img, _rect(u, v, a, b, power=2, soft=0.5), colour)
    bar = _rect(u - 0.5 * a, v, 0.08 / gsd + 0.4, 0.4 / gsd * 1.6, power=8, soft=0.4)
    return _blend(img, bar, _grey(g, img.shape[0], 0.05, 0.2))


def _tree_crown(x, y, cx, cy, radius, fields) -> Tensor:
    d = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) / (radius * (1 + 0.22 * fields["mid"]))
    return torch.sigmoid((1 - d) * radius / 1.2)


def _tree(g, img, x, y, cx, cy, radius, sun, gsd, fields) -> Tensor:
    """A tree crown: lumpy dark-green disc with leaf texture, and its shadow."""
    n = img.shape[0]
    ox, oy = sun.offset(torch.clamp(0.6 * radius * gsd + 2.0, max=5.0), gsd)
    img = _darken(img, _tree_crown(x - ox, y - oy, cx, cy, radius, fields), sun.dark)
    crown = _tree_crown(x, y, cx, cy, radius, fields)
    leaf = _rgb(_u(g, n, 0.10, 0.22), _u(g, n, 0.20, 0.34), _u(g, n, 0.06, 0.14))
    # self-shadow on the side away from the sun, leaf speckle
    side = ((x - cx) * sun.dx + (y - cy) * sun.dy) / radius
    tex = (1 + 0.25 * fields["fine"] - 0.25 * side.clamp(-1, 1)).unsqueeze(1)
    return _blend(img, crown, leaf * tex)


# --------------------------------------------------------------------------------------------
# street confusers (issue 18)
# --------------------------------------------------------------------------------------------
def _clothes(g, n) -> Tensor:
    dark = _grey(g, n, 0.05, 0.3)
    bright = _rgb(_u(g, n, 0.2, 0.9), _u(g, n, 0.15, 0.8), _u(g, n, 0.1, 0.8))
    return torch.lerp(dark, bright, _p(g, n, 0.4).unsqueeze(1))


def _person(g, img, x, y, cx, cy, theta, sun, gsd, height) -> Tensor:
    """A person from above (shoulders and head) with the long thin shadow of their body."""
    n = img.shape[0]
    length = height * sun.ratio / gsd
    shadow = _segment(x, y, cx, cy, sun.dx, sun.dy, length, 0.17 / gsd)
    head_sh = _rect(x - cx - length * sun.dx, y - cy - length * sun.dy, 0.12 / gsd + 0.3,
                    0.12 / gsd + 0.3, power=2, soft=0.5)
    img = _darken(img, torch.maximum(shadow, head_sh), sun.dark)
    u, v = _frame(x, y, cx, cy, theta)
    img = _blend(img, _rect(u, v, 0.14 / gsd + 0.3, 0.25 / gsd + 0.3, power=2, soft=0.5), _clothes(g, n))
    head = _rect(u, v, 0.1 / gsd + 0.2, 0.1 / gsd + 0.2, power=2, soft=0.4)
    return _blend(img, head, _rgb(_u(g, n, 0.05, 0.45), _u(g, n, 0.04, 0.35), _u(g, n, 0.03, 0.3)))


def _pedestrian(g, img, x, y, cx, cy, theta, sun, gsd) -> Tensor:
    """One or two pedestrians walking side by side."""
    n = img.shape[0]
    img = _person(g, img, x, y, cx, cy, theta, sun, gsd, _u(g, n, 1.5, 1.9))
    two = _p(g, n, 0.35).view(n) > 0
    ox, oy = -torch.sin(theta) * 0.7 / gsd, torch.cos(theta) * 0.7 / gsd
    return _draw_where(two, _person, g, img, x, y, cx + ox, cy + oy, theta, sun, gsd, _u(g, n, 1.5, 1.9))


def _cyclist(g, img, x, y, cx, cy, theta, sun, gsd) -> Tensor:
    """A bicycle (thin dark line with wheels) with its rider, and their shadows."""
    n = img.shape[0]
    c, s = torch.cos(theta), torch.sin(theta)
    half = 0.85 / gsd
    bike_sh = _segment(x, y, *(p + o for p, o in zip((cx - half * c, cy - half * s), sun.offset(0.4, gsd))),
                       c, s, 2 * half, 0.04 / gsd + 0.35)
    rider_len = 1.7 * sun.ratio / gsd
    rider_sh = _segment(x, y, cx, cy, sun.dx, sun.dy, rider_len, 0.18 / gsd)
    img = _darken(img, torch.maximum(bike_sh, rider_sh), sun.dark)
    bike = _segment(x, y, cx - half * c, cy - half * s, c, s, 2 * half, 0.035 / gsd + 0.3)
    img = _blend(img, bike, _grey(g, n, 0.03, 0.2))
    return _person(g, img, x, y, cx, cy, theta, sun, gsd, 0 * cx)  # rider; shadow drawn above


def _hedge(g, img, x, y, cx, cy, theta, sun, gsd, fields) -> Tensor:
    """A clipped hedge or a few round bushes: dark, lumpy, with their shadow."""
    n = img.shape[0]
    is_hedge = _p(g, n, 0.5)
    a = torch.where(is_hedge > 0, _u(g, n, 1.5, 4.0), _u(g, n, 0.6, 1.4)) / gsd
    b = torch.where(is_hedge > 0, _u(g, n, 0.5, 0.9) / gsd, a)
    lump = 1 + 0.15 * fields["mid"] + 0.08 * fields["fine"]
    power = 4

    def outline(ox, oy, dist=0.0):
        u, v = _frame(x, y, cx + ox + dist * -torch.sin(theta), cy + oy + dist * torch.cos(theta), theta)
        return _rect(u * lump, v * lump, a, b, power=power, soft=0.8)

    second = _p(g, n, 0.6) * (1 - is_hedge)  # a second bush beside the first
    dist = (2 * b + _u(g, n, 0.1, 0.6) / gsd) * second + 1e4 * (1 - second)
    height = _u(g, n, 0.8, 1.6)
    img = _shadow(img, sun, height, gsd, lambda ox, oy: torch.maximum(outline(ox, oy), outline(ox, oy, dist)))
    mask = torch.maximum(outline(0, 0), outline(0, 0, dist))
    leaf = _rgb(_u(g, n, 0.04, 0.16), _u(g, n, 0.08, 0.24), _u(g, n, 0.03, 0.10))
    u, v = _frame(x, y, cx, cy, theta)
    lit = -(u * (sun.dx * torch.cos(theta) + sun.dy * torch.sin(theta))) / a
    tex = (1 + 0.35 * fields["fine"] + 0.2 * lit.clamp(-1, 1)).unsqueeze(1)
    return _blend(img, mask, leaf * tex)


def _pole(g, img, x, y, cx, cy, theta, sun, gsd) -> Tensor:
    """A lamp post or sign pole: a small disc and arm from above, a long thin shadow with the
    lamp head's blob at its end."""
    n = img.shape[0]
    height = _u(g, n, 4.0, 9.0)
    length = height * sun.ratio / gsd
    shadow = _segment(x, y, cx, cy, sun.dx, sun.dy, length, 0.07 / gsd + 0.3)
    arm = _u(g, n, 0.5, 1.8) / gsd * _p(g, n, 0.7)
    c, s = torch.cos(theta), torch.sin(theta)
    ex, ey = cx + length * sun.dx, cy + length * sun.dy
    arm_sh = _segment(x, y, ex, ey, c, s, arm, 0.08 / gsd + 0.3)
    img = _darken(img, torch.maximum(shadow, arm_sh), sun.dark * 0.9)
    grey = _grey(g, n, 0.25, 0.75)
    img = _blend(img, _segment(x, y, cx, cy, c, s, arm, 0.07 / gsd + 0.25), grey)
    head = _rect(*_frame(x, y, cx + arm * c, cy + arm * s, theta), 0.3 / gsd + 0.3, 0.15 / gsd + 0.3,
                 power=4, soft=0.4)
    img = _blend(img, head * (arm > 0).float(), grey * 1.1)
    return _blend(img, _rect(x - cx, y - cy, 0.12 / gsd + 0.3, 0.12 / gsd + 0.3, power=2, soft=0.4), grey)


def _branches(x, y, cx, cy, radius, count, twist, fields) -> Tensor:
    """A leafless crown from above: radial limbs that fork, with twigs, fading at the rim."""
    dx, dy = x - cx, y - cy
    r = torch.sqrt(dx * dx + dy * dy + 1e-6)
    ang = torch.atan2(dy, dx) + twist * fields["mid"] + 0.4 * r / radius
    limbs = torch.sigmoid((torch.cos(count * ang) - 0.92 + 0.05 * r / radius) * 25)
    forks = torch.sigmoid((torch.cos(2 * count * ang + 1.3) - 0.9) * 25) * (r > 0.45 * radius).float()
    twigs = torch.sigmoid((fields["fine"] - 0.2) * 6) * 0.5
    inside = torch.sigmoid((radius - r) / 1.5)
    trunk = torch.sigmoid((0.25 * radius / 4 + 1.0 - r) / 0.6)
    return (torch.maximum(torch.maximum(limbs, forks), twigs) * inside + trunk).clamp(0, 1)


def _bare_tree(g, img, x, y, cx, cy, sun, gsd, fields) -> Tensor:
    """A leafless tree: a web of grey-brown branches, and the web of their shadow beside it."""
    n = img.shape[0]
    radius = _u(g, n, 2.0, 4.0) / gsd
    count = torch.floor(_u(g, n, 5, 9))
    twist = _u(g, n, 0.3, 0.9)
    ox, oy = sun.offset(_u(g, n, 3.0, 6.0), gsd)
    ox, oy = ox.clamp(-45, 45), oy.clamp(-45, 45)
    img = _darken(img, _branches(x - ox, y - oy, cx, cy, radius * 1.1, count, twist, fields), sun.dark * 0.8)
    bark = _rgb(_u(g, n, 0.20, 0.38), _u(g, n, 0.17, 0.32), _u(g, n, 0.14, 0.27))
    return _blend(img, _branches(x, y, cx, cy, radius, count, twist, fields) * 0.85, bark)


def _manhole(g, img, x, y, cx, cy, theta, gsd) -> Tensor:
    """A round manhole cover with its rim, or a rectangular slotted drain."""
    n = img.shape[0]
    rad = _u(g, n, 0.3, 0.42) / gsd
    d = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2)
    disc = torch.sigmoid((rad - d) / 0.5)
    rings = 1 + 0.15 * torch.cos(2 * math.pi * d / (0.08 / gsd + 1.5))
    rim = _band(d, rad - 0.05 / gsd - 0.5, rad + 0.05 / gsd + 0.5, soft=0.4)
    u, v = _frame(x, y, cx, cy, theta)
    grate = _rect(u, v, _u(g, n, 0.25, 0.45) / gsd, _u(g, n, 0.15, 0.25) / gsd, power=12, soft=0.4)
    slots = 1 - 0.6 * (torch.cos(2 * math.pi * u / (0.06 / gsd + 1.6)) > 0.2).float()
    is_drain = _p(g, n, 0.4).view(n, 1, 1)
    iron = _grey(g, n, 0.12, 0.35)
    shape = torch.where(is_drain > 0, grate, disc)
    texture = torch.where(is_drain > 0, slots, rings).unsqueeze(1)
    img = _blend(img, shape, iron * texture)
    return _blend(img, rim * (1 - is_drain) * 0.6, iron * 1.6)


def _round_structure(g, img, x, y, cx, cy, sun, gsd, fields, texture) -> Tensor:
    """A curved kerb, the dark rim of a round building or a fountain basin: a circle of large
    radius whose rim crosses the patch, another surface inside."""
    n = img.shape[0]
    size = x.shape[-1]
    radius = _u(g, n, 3.0, 15.0) / gsd
    ang = _u(g, n, 0, 2 * math.pi)
    dist = radius + _u(g, n, -0.35, 0.35) * size  # the rim passes within a third of a patch
    ox, oy = cx + dist * torch.cos(ang), cy + dist * torch.sin(ang)
    d = torch.sqrt((x - ox) ** 2 + (y - oy) ** 2)
    inside = torch.sigmoid((radius - d) / 0.6)
    style = _choice(g, n, [0.45, 0.35, 0.20]).view(n, 1, 1)  # curved kerb, round building, fountain
    other = torch.where(style.view(n) == 1, torch.full((n,), ROOF), _choice(g, n, [0.2, 0, 0.5, 0, 0, 0.3, 0]))
    inner = _ground(g, other, x, y, ang, (cx, cy, cx), gsd, fields, texture)
    water = _rgb(_u(g, n, 0.10, 0.25), _u(g, n, 0.14, 0.3), _u(g, n, 0.16, 0.36)) * (
        1 + 0.08 * fields["fine"]).unsqueeze(1)
    inner = torch.where(style.unsqueeze(1) == 2, water.expand_as(inner), inner)
    img = torch.lerp(img, inner, inside.unsqueeze(1))
    width = torch.where(style == 0, _u(g, n, 0.12, 0.25), _u(g, n, 0.3, 0.8)) / gsd
    rim = _band(d, radius - width, radius + 0.5, soft=0.5)
    rim_colour = torch.where(style.unsqueeze(1) == 0, _grey(g, n, 0.55, 0.75), _grey(g, n, 0.05, 0.25))
    # a round building's wall casts its shadow outward on the sun's side
    sh = torch.sqrt((x - ox - sun.offset(4.0, gsd)[0]) ** 2 + (y - oy - sun.offset(4.0, gsd)[1]) ** 2)
    img = _darken(img, torch.sigmoid((radius - sh) / 0.6) * (1 - inside) * (style == 1).float(), sun.dark)
    return _blend(img, rim, rim_colour)


def _planter(g, img, x, y, cx, cy, theta, sun, gsd, fields) -> Tensor:
    """A car-sized concrete or metal planter box with soil and plants, on the sidewalk."""
    n = img.shape[0]
    a, b = _u(g, n, 0.8, 1.6) / gsd, _u(g, n, 0.5, 0.9) / gsd
    img = _shadow(img, sun, 0.6, gsd, lambda ox, oy: _rect(*_frame(x, y, cx + ox, cy + oy, theta),
                                                          a, b, power=12, soft=0.6))
    u, v = _frame(x, y, cx, cy, theta)
    img = _blend(img, _rect(u, v, a, b, power=12, soft=0.4), _grey(g, n, 0.08, 0.45))
    fill = torch.lerp(_rgb(_u(g, n, 0.15, 0.3), _u(g, n, 0.11, 0.22), _u(g, n, 0.07, 0.15)),
                      _rgb(_u(g, n, 0.08, 0.2), _u(g, n, 0.18, 0.32), _u(g, n, 0.05, 0.12)),
                      _p(g, n, 0.6).unsqueeze(1))
    inner = _rect(u, v, a - 0.12 / gsd, b - 0.12 / gsd, power=12, soft=0.4)
    return _blend(img, inner, fill * (1 + 0.3 * fields["fine"]).unsqueeze(1))


def _sidewalk(g, img, x, y, cx, cy, theta, sun, gsd, fields, texture) -> Tensor:
    """Light concrete sidewalk (its slabs come from the ground) with a dark kerb and the road
    beyond it, and often a planter."""
    n = img.shape[0]
    size = x.shape[-1]
    at = (size / 2 + _u(g, n, -0.4, 0.4) * size, size / 2 + _u(g, n, -0.4, 0.4) * size, theta)
    img = _kerb(g, img, torch.full((n,), ASPHALT), x, y, theta, (cx, cy, cx), gsd, fields, at, texture)
    ku, _ = _frame(x, y, *at)
    gutter = _band(ku, 0.2 / gsd, 0.45 / gsd + 0.5, soft=0.4)  # dark gutter just beyond the kerb
    img = _darken(img, gutter, _u(g, n, 0.3, 0.6))
    has = _p(g, n, 0.6).view(n) > 0
    back = _u(g, n, 1.0, 2.5) / gsd  # the planter stands on the walk, 1-2.5 m from the kerb
    pcx, pcy = at[0] - torch.cos(at[2]) * back, at[1] - torch.sin(at[2]) * back
    return _draw_where(has, _planter, g, img, x, y, pcx, pcy, at[2] + math.pi / 2 * _p(g, n, 0.5),
                       sun, gsd, fields)


def _large_vehicle(g, img, x, y, cx, cy, theta, sun, gsd, fine) -> Tensor:
    """The end of a bus or truck: a long flat roof with vents and hatches (or a cab and a cargo
    box), far larger than a car, mostly beyond the patch."""
    n = img.shape[0]
    a, b = _u(g, n, 5.0, 7.0) / gsd, _u(g, n, 1.22, 1.28) / gsd
    img = _shadow(img, sun, 3.2, gsd, lambda ox, oy: _rect(*_frame(x, y, cx + ox, cy + oy, theta),
                                                          a, b, power=12, soft=0.8))
    u, v = _frame(x, y, cx, cy, theta)
    body = _rect(u, v, a, b, power=12, soft=0.5)
    colour = torch.where(_p(g, n, 0.5).unsqueeze(1) > 0, _grey(g, n, 0.7, 0.92),
                         _rgb(_u(g, n, 0.2, 0.85), _u(g, n, 0.15, 0.7), _u(g, n, 0.05, 0.6)))
    is_truck = _p(g, n, 0.45)
    gap = is_truck * _band(u, a - 2.2 / gsd, a - 1.9 / gsd, soft=0.4)  # cab / box split
    vents = _rect(torch.remainder(u, 2.5 / gsd) - 1.25 / gsd, v, 0.45 / gsd, 0.4 / gsd, power=12, soft=0.4)
    ribs = (torch.cos(2 * math.pi * u / (0.5 / gsd)) > 0.6).float() * is_truck
    shade = (1 - 0.35 * gap - 0.12 * vents * (1 - is_truck) - 0.08 * ribs) * (1 + 0.02 * fine)
    img = _blend(img, body, colour * shade.unsqueeze(1))
    front = _band(u, a - 0.6 / gsd, a - 0.1 / gsd, soft=0.4) * (v.abs() < b * 0.85).float() * (1 - is_truck)
    return _blend(img, front * body, _grey(g, n, 0.05, 0.18))


# --------------------------------------------------------------------------------------------
# camera
# --------------------------------------------------------------------------------------------
def _blur(img: Tensor, sigma: Tensor, streak: Tensor | None = None,
          angle: Tensor | None = None) -> Tensor:
    """Gaussian blur with a per-image sigma, stretched along `angle` by a motion streak of
    `streak` px (both optional per image), as one grouped convolution."""
    n, c, h, w = img.shape
    r = torch.arange(-3, 4, dtype=torch.float)
    kx, ky = r.view(1, 1, 7), r.view(1, 7, 1)
    s2 = sigma.view(n, 1, 1) ** 2
    if streak is None:
        k = torch.exp(-(kx ** 2 + ky ** 2) / (2 * s2))
    else:  # anisotropic Gaussian: a line of length L has variance L^2 / 12 along it
        ca, sa = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
        along, across = kx * ca + ky * sa, -kx * sa + ky * ca
        k = torch.exp(-along ** 2 / (2 * (s2 + streak.view(n, 1, 1) ** 2 / 12)) - across ** 2 / (2 * s2))
    k = k / k.sum(dim=(1, 2), keepdim=True)
    k = k.repeat_interleave(c, 0).unsqueeze(1)
    padded = F.pad(img.reshape(1, n * c, h, w), (3, 3, 3, 3), mode="reflect")
    return F.conv2d(padded, k, groups=n * c).view(n, c, h, w)


_DCT = torch.tensor([[math.sqrt((1 if k == 0 else 2) / 8) * math.cos((2 * i + 1) * k * math.pi / 16)
                      for i in range(8)] for k in range(8)])
_Q_LUMA = torch.tensor([16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24,
                        40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103,
                        77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72,
                        92, 95, 98, 112, 100, 103, 99], dtype=torch.float).view(8, 8)
_Q_CHROMA = torch.full((8, 8), 99.0)
_Q_CHROMA[:4, :4] = torch.tensor([[17, 18, 24, 47], [18, 21, 26, 66], [24, 26, 56, 99], [47, 66, 99, 99.]])
_Q_LUMA, _Q_CHROMA = _Q_LUMA.reshape(64), _Q_CHROMA.reshape(64)
_DCT2 = torch.kron(_DCT, _DCT)  # acts on a row-major flattened 8×8 block


def _dct_quantise(planes: Tensor, step: Tensor) -> Tensor:
    """planes (n,c,H,W) through the 8×8 block DCT, rounded to multiples of step (n,c,1,64)."""
    n, c, h, w = planes.shape
    blocks = planes.view(n, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(n, c, -1, 64)
    coef = blocks @ _DCT2.T  # the 2-D DCT of every 8×8 block as one matrix product
    blocks = (torch.round(coef / step) * step) @ _DCT2
    return blocks.view(n, c, h // 8, w // 8, 8, 8).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


def _jpeg(img: Tensor, quality: Tensor) -> Tensor:
    """JPEG-like compression of img (n,3,H,W in [0,1], H and W multiples of 16) at a per-image
    quality: YCbCr, chroma at half resolution (4:2:0), 8×8 DCT quantised with the standard tables."""
    n = img.shape[0]
    m = torch.tensor([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    ycc = torch.einsum("ij,njhw->nihw", m * 255, img)
    q = quality.view(n, 1, 1, 1)
    scale = torch.where(q < 50, 5000 / q, 200 - 2 * q)
    luma = _dct_quantise(ycc[:, :1], torch.floor((_Q_LUMA.view(1, 1, 1, 64) * scale + 50) / 100).clamp_min(1))
    chroma = _dct_quantise(F.avg_pool2d(ycc[:, 1:], 2),
                           torch.floor((_Q_CHROMA.view(1, 1, 1, 64) * scale + 50) / 100).clamp_min(1))
    chroma = F.interpolate(chroma, scale_factor=2, mode="nearest")
    return torch.einsum("ij,njhw->nihw", torch.linalg.inv(m) / 255, torch.cat([luma, chroma], dim=1))


def _camera(g, img, opt: Options, warm: Tensor) -> Tensor:
    """Illumination, colour cast, haze, optics (and motion) blur, sensor noise and compression,
    then 8-bit quantisation."""
    n, _, size, _ = img.shape
    gain = _u(g, n, 0.65, 1.25).unsqueeze(1)
    cast = 1 + 0.05 * (torch.rand(n, 3, 1, 1, generator=g) * 2 - 1)
    warm_cast = torch.tensor([1.12, 1.0, 0.78]).view(1, 3, 1, 1)
    img = img * gain * cast * torch.lerp(torch.ones(1, 3, 1, 1), warm_cast, warm.view(n, 1, 1, 1))
    atmo = opt.atmosphere
    haze = ((torch.rand(n, 1, 1, 1, generator=g) ** 2) * 0.45 * atmo).clamp(max=0.85)
    haze_colour = torch.tensor([0.62, 0.66, 0.72]).view(1, 3, 1, 1)
    img = img * (1 - haze) + haze_colour * haze
    sigma = _u(g, n, 0.35, 1.6) * (1 if atmo <= 1 else 1 + 0.5 * (atmo - 1))
    streak = _u(g, n, 0.0, 2.0) * _p(g, n, 0.5) if opt.motion_blur else None
    angle = _u(g, n, 0, math.pi) if opt.motion_blur else None
    img = _blur(img, sigma, streak, angle)
    img = img + _u(g, n, 0.004, 0.04).unsqueeze(1) * atmo * torch.randn(n, 3, size, size, generator=g)
    if opt.chroma_noise:  # colour noise in blotches of 2 px (demosaicing), strongest in the blue
        half = torch.randn(n, 3, size // 2, size // 2, generator=g) * torch.tensor([0.6, 0.4, 1.0]).view(1, 3, 1, 1)
        img = img + _u(g, n, 0.0, 0.022).unsqueeze(1) * atmo * F.interpolate(half, size=(size, size),
                                                                             mode="nearest")
    img = img.clamp(0, 1)
    if opt.jpeg and size % 16 == 0:
        img = _jpeg(img, _u(g, n, 55, 92).view(n)).clamp(0, 1)
    return (img * 255).round().to(torch.uint8)


# --------------------------------------------------------------------------------------------
# scenes
# --------------------------------------------------------------------------------------------
_ROOFS_GRASS = torch.tensor([0.05, 0.05, 0.40, 0.05, 0.40, 0.05, 0.0])
_MIXED_BY_SCENE_SHIFT = (EMPTY, BOX, MOTORBIKE, HEDGE, BARE_TREE, ROUND)


def _scene_table(labels: Tensor, nk: Tensor, opt: Options) -> Tensor:
    """Per image, the shares of the scene types (n, 7) given its class and kind."""
    notcar = torch.tensor(SCENE_MIX_NOTCAR)
    car = torch.tensor(SCENE_MIX_CAR)
    if opt.scene_mix == "roofs_grass":
        rows = torch.tensor(_MIXED_BY_SCENE_SHIFT)
        notcar[rows] = 0.3 * notcar[rows] + 0.7 * _ROOFS_GRASS
        car = torch.tensor([0.20, 0.20, 0.30, 0.15, 0.0, 0.15, 0.0])  # verge and field parking
    return torch.where(labels.view(-1, 1) > 0, car, notcar[nk.clamp_min(0)])


def _draw_sun(g: torch.Generator, n: int, opt: Options) -> tuple[Sun, Tensor]:
    """The patch's sun (shadow direction, length per metre of height, darkness) and how warm
    its light is (0 neutral, 1 evening)."""
    az = _u(g, n, 0, 2 * math.pi)
    ratio = _u(g, n, 0.2, 0.93)
    if opt.directional_light:  # include a lower sun: 40 % of patches with shadows up to 2× height
        ratio = torch.where(_p(g, n, 0.4) > 0, _u(g, n, 0.93, 2.0), ratio)
    dark = _u(g, n, 0.35, 0.6)
    warm = torch.zeros(n)
    if opt.low_sun:
        ratio, dark, warm = _u(g, n, 2.2, 3.5), _u(g, n, 0.5, 0.7), _u(g, n, 0.5, 1.0).view(n)
    return Sun(torch.cos(az), torch.sin(az), ratio, dark, opt.directional_light), warm


def _names(table, idx: Tensor, none: Tensor | None = None) -> np.ndarray:
    out = np.array(table, dtype=object)[idx.clamp_min(0).numpy()]
    if none is not None:
        out[none.numpy()] = "none"
    return out


def _render_chunk(g: torch.Generator, labels: Tensor, size: int, opt: Options) -> tuple[Tensor, dict]:
    n = labels.numel()
    x, y = _grid(size)
    car = labels > 0
    nk = torch.where(car, -1, _choice(g, n, opt.kind_shares()))
    variant = _choice(g, n, CAR_VARIANT_MIX) if opt.car_detail else torch.zeros(n, dtype=torch.long)
    variant = torch.where(car, variant, -1)
    gsd = _u(g, n, 0.10, 0.15) / opt.scale
    fields = {"fine": _noise(g, n, size, 24), "mid": _noise(g, n, size, 8),
              "coarse": _noise(g, n, size, 3)}
    scene = _choice(g, n, _scene_table(labels, nk, opt))
    phi = _u(g, n, 0, 2 * math.pi)  # scene heading: roads, bays, seams
    # where the scene's frame sits: bay lines are centred on the patch centre +- jitter
    off = (size / 2 + _u(g, n, -2, 2), size / 2 + _u(g, n, -2, 2), _u(g, n, -60, -5))
    img = _ground(g, scene, x, y, phi, off, gsd, fields, opt.texture)
    # kerb: sometimes a second ground type behind a kerb line
    has_kerb = (torch.rand(n, generator=g) < 0.3) & (nk != SIDEWALK_KIND) & (nk != ROUND)
    other = _choice(g, n, [0.2, 0.0, 0.3, 0.1, 0.0, 0.15, 0.25] if opt.street_kinds
                    else [0.25, 0.0, 0.40, 0.15, 0.0, 0.20, 0.0])
    kerb_at = (_u(g, n, 0, size), _u(g, n, 0, size), _u(g, n, 0, 2 * math.pi))
    img = _draw_where(has_kerb, _kerb, g, img, other, x, y, phi, off, gsd, fields, kerb_at, opt.texture)
    sun, warm = _draw_sun(g, n, opt)
    img = _draw_where(nk == MARKING, _marking, g, img, x, y, size / 2 + _u(g, n, -10, 10),
                      size / 2 + _u(g, n, -10, 10), phi + _u(g, n, -0.12, 0.12) + math.pi * _p(g, n, 0.5),
                      gsd, fields["fine"])
    # the main object's pose: near the centre, mostly aligned with lanes and bays
    a, b, van, body = _car_size(g, n, gsd)
    on_lane = (scene.view(n, 1, 1) == PARKING) | (scene.view(n, 1, 1) == ASPHALT)
    theta = torch.where(on_lane & (_p(g, n, 0.8) > 0), phi + math.pi * _p(g, n, 0.5) + _u(g, n, -0.08, 0.08),
                        _u(g, n, 0, 2 * math.pi))
    cx, cy = size / 2 + _u(g, n, -11, 11), size / 2 + _u(g, n, -11, 11)
    # cut cars: centre outside the patch, up to 0.6 half-length beyond an edge
    edge = _choice(g, n, [0.25] * 4).view(n, 1, 1)
    along, out = _u(g, n, 0, size), _u(g, n, 0.5, 1.0) + _u(g, n, 0, 0.35) * a
    cut = (nk == CUT_CAR).view(n, 1, 1)
    cx = torch.where(cut, torch.where(edge == 0, -out, torch.where(edge == 1, size + out, along)), cx)
    cy = torch.where(cut, torch.where(edge == 2, -out, torch.where(edge == 3, size + out, along)), cy)
    img, extras = _neighbours_and_edges(g, img, x, y, scene, variant, nk, phi, off, cx, cy, theta, b,
                                        sun, gsd, fields, opt)
    colour_idx = _car_colour_index(g, n, opt.car_colours == "vivid")
    glass_roof = variant == 1
    colour_idx = torch.where(glass_roof, torch.tensor([WHITE, SILVER, BLACK, 2])[_choice(g, n, [.45, .25, .15, .15])],
                             colour_idx)
    roof_glass = (glass_roof.float() * (1 + _p(g, n, 0.6).view(n))).view(n, 1, 1)
    colour = _car_colour(g, colour_idx)
    img = _draw_where(car | (nk == CUT_CAR), _car, g, img, x, y, cx, cy, theta, a, b, van, colour, roof_glass,
                      sun, gsd, fields["fine"], opt.car_detail)
    img = _draw_negatives(g, img, x, y, nk, scene, cx, cy, theta, colour, sun, gsd, fields, opt)
    # trees: over a car sometimes (partly hiding it), anywhere in other scenes
    radius = _u(g, n, 1.2, 3.0) / gsd
    near = torch.where(_p(g, n, 0.5) > 0, 1.0, -1.0)
    reach = b + radius * _u(g, n, 0.15, 0.8)
    is_car = car.view(n, 1, 1)
    tcx = torch.where(is_car, cx + near * reach * torch.sin(theta), _u(g, n, -10, size + 10))
    tcy = torch.where(is_car, cy - near * reach * torch.cos(theta), _u(g, n, -10, size + 10))
    tree_prob = torch.where(car, 0.3, torch.where(scene == GRASS, 0.5, 0.15))
    has_tree = (torch.rand(n, generator=g) < tree_prob) & (nk != BARE_TREE)
    img = _draw_where(has_tree, _tree, g, img, x, y, tcx, tcy, radius, sun, gsd, fields)
    img = _camera(g, img.clamp(0, 1.2), opt, warm)
    meta = _metadata(x, y, car, nk, variant, scene, body, colour_idx, roof_glass, theta, cx, cy, a, b,
                     (tcx, tcy, radius, has_tree), fields, extras, gsd, sun)
    return img, meta


def _metadata(x, y, car, nk, variant, scene, body, colour_idx, roof_glass, theta, cx, cy, a, b, tree,
              fields, extras, gsd, sun) -> dict[str, np.ndarray]:
    """What was rendered in each image, one array per attribute (no random draws)."""
    n = car.numel()
    tcx, tcy, radius, has_tree = tree
    carlike = car | (nk == CUT_CAR)
    body_mask = _rect(*_frame(x, y, cx, cy, theta), a, b, power=6, soft=0.6)
    crown = _tree_crown(x, y, tcx, tcy, radius, fields) * has_tree.view(n, 1, 1).float()
    body_area = (body_mask.sum(dim=(1, 2)) + 1e-6)
    visible = body_area / (4 * a * b).view(n) / _rect_area(6)
    tree_cover = torch.where(carlike, (crown * body_mask).sum(dim=(1, 2)) / body_area,
                             crown.mean(dim=(1, 2)))
    kind = np.where(car.numpy(), _names(("car", "car_glass_roof", "car_tight_row", "car_dark_edge"), variant),
                    _names(NOTCAR_KINDS, nk))
    kind[(car & (variant == 0) & (tree_cover > 0.25)).numpy()] = "car_under_tree"
    kind[((nk == EMPTY) & has_tree).numpy()] = "tree"
    nan = torch.full((n,), float("nan"))
    meta = {
        "kind": kind, "scene": _names(SCENES, scene),
        "body": _names(BODY_TYPES, body, ~carlike),
        "colour": _names([c[0] for c in CAR_COLOURS], colour_idx, ~(carlike | (nk == MOTORBIKE))),
        "roof_glass": _names(("none", "sunroof", "panoramic"), roof_glass.view(n).long()),
        "heading_deg": torch.where(nk == EMPTY, nan, torch.rad2deg(theta.view(n)) % 360).numpy(),
        "visible_fraction": torch.where(carlike, visible.clamp(0, 1), nan).numpy(),
        "tree_cover": tree_cover.numpy(),
        "neighbour": extras["neighbour"].numpy(), "dark_edge": extras["dark_edge"].numpy(),
        "gsd_m": gsd.view(n).numpy(), "sun_azimuth_deg": torch.rad2deg(torch.atan2(sun.dy, sun.dx)).view(n).numpy() % 360,
        "shadow_ratio": sun.ratio.view(n).numpy(),
    }
    return meta


def _neighbours_and_edges(g, img, x, y, scene, variant, nk, phi, off, cx, cy, theta, b, sun, gsd,
                          fields, opt) -> tuple[Tensor, dict]:
    """Neighbouring cars (in the next bay, cut by the patch edge; or tight on both sides of the
    main car) and dark edges (beside a car, or anywhere in a few negatives)."""
    n, size = img.shape[0], x.shape[-1]
    a2, b2, van2, _ = _car_size(g, n, gsd)
    colour2 = _car_colour(g, _car_colour_index(g, n, opt.car_colours == "vivid"))
    no_glass = torch.zeros(n, 1, 1)
    # parking neighbours centred outside the patch (never more than half in)
    bay = 2.5 / gsd
    nb_v = torch.where(_p(g, n, 0.5) > 0, 1.0, -1.0) * torch.maximum(bay, size / 2 + b2 * 0.2 + _u(g, n, 0, 6))
    nb_theta = phi + math.pi * _p(g, n, 0.5) + _u(g, n, -0.05, 0.05)
    nb_cx = off[0] - nb_v * torch.sin(phi) + _u(g, n, -4, 4) * torch.cos(phi)
    nb_cy = off[1] + nb_v * torch.cos(phi) + _u(g, n, -4, 4) * torch.sin(phi)
    tight = variant == 2
    with_nb = (scene == PARKING) & (torch.rand(n, generator=g) < 0.5) & ~tight
    img = _draw_where(with_nb, _car, g, img, x, y, nb_cx, nb_cy, nb_theta, a2, b2, van2, colour2, no_glass,
                      sun, gsd, fields["fine"], opt.car_detail)
    # tight rows: neighbours 0.3-0.9 m away on both sides, parallel, in the same row
    for side in (1.0, -1.0):
        lateral = side * (b + b2 + _u(g, n, 0.3, 0.9) / gsd)
        shift = _u(g, n, -0.6, 0.6) / gsd
        ncx = cx - lateral * torch.sin(theta) + shift * torch.cos(theta)
        ncy = cy + lateral * torch.cos(theta) + shift * torch.sin(theta)
        present = tight & ((_p(g, n, 0.85).view(n) > 0) if side < 0 else True)
        img = _draw_where(present, _car, g, img, x, y, ncx, ncy, theta + math.pi * _p(g, n, 0.3) +
                          _u(g, n, -0.04, 0.04), a2, b2, van2, colour2, no_glass, sun, gsd, fields["fine"],
                          opt.car_detail)
    # dark edges: beside the car (0.1-0.8 m from its side), or through a few negatives
    edge_theta = theta + math.pi * _p(g, n, 0.5)
    dist = torch.where((variant == 3).view(n, 1, 1), b + _u(g, n, 0.1, 0.8) / gsd, _u(g, n, -20, 20))
    edged = (variant == 3) | ((nk >= 0) & (torch.rand(n, generator=g) < (0.06 if opt.car_detail else 0)))
    img = _draw_where(edged, _dark_edge, g, img, x, y, cx, cy, edge_theta, dist, sun)
    return img, {"neighbour": with_nb | tight, "dark_edge": edged}


def _draw_negatives(g, img, x, y, nk, scene, cx, cy, theta, colour, sun, gsd, fields, opt) -> Tensor:
    """Every not-car kind but the marking and the cut car (drawn with the ground and the cars)."""
    n, size = img.shape[0], x.shape[-1]
    img = _draw_where(nk == BOX, _box, g, img, x, y, cx, cy, theta, sun, gsd, fields["fine"],
                      (scene.view(n, 1, 1) == ROOF).float())
    img = _draw_where(nk == MOTORBIKE, _motorbike, g, img, x, y, cx, cy, theta, colour, sun, gsd)
    img = _draw_where(nk == PEDESTRIAN, _pedestrian, g, img, x, y, cx, cy, theta, sun, gsd)
    img = _draw_where(nk == CYCLIST, _cyclist, g, img, x, y, cx, cy, theta, sun, gsd)
    img = _draw_where(nk == HEDGE, _hedge, g, img, x, y, cx, cy, theta, sun, gsd, fields)
    img = _draw_where(nk == POLE, _pole, g, img, x, y, cx, cy, theta, sun, gsd)
    img = _draw_where(nk == BARE_TREE, _bare_tree, g, img, x, y, cx, cy, sun, gsd, fields)
    img = _draw_where(nk == MANHOLE, _manhole, g, img, x, y, cx, cy, theta, gsd)
    img = _draw_where(nk == ROUND, _round_structure, g, img, x, y, cx, cy, sun, gsd, fields, opt.texture)
    img = _draw_where(nk == SIDEWALK_KIND, _sidewalk, g, img, x, y, cx, cy, theta, sun, gsd, fields, opt.texture)
    # a bus or truck placed by a nominal half-length of 5-7 m so that its front end lies near the
    # centre; the vehicle draws its own half-length (5-7 m), so the front end lands from 1.5 m
    # short of the centre to 6 m past it (then the patch is all roof), the rest beyond the patch
    nominal = _u(g, n, 5.0, 7.0)
    reach = (nominal - _u(g, n, 0.5, 4.0)) / gsd
    lcx = size / 2 - reach * torch.cos(theta) + _u(g, n, -1.5, 1.5) / gsd * -torch.sin(theta)
    lcy = size / 2 - reach * torch.sin(theta) + _u(g, n, -1.5, 1.5) / gsd * torch.cos(theta)
    return _draw_where(nk == LARGE_VEHICLE, _large_vehicle, g, img, x, y, lcx, lcy, theta, sun, gsd,
                       fields["fine"])


def render_with_meta(labels: Tensor, seed: int, size: int = 64,
                     options: Options | None = None) -> tuple[Tensor, dict[str, np.ndarray]]:
    """Render one uint8 image (3×size×size) per label (0 = not-car, 1 = car), deterministically
    for (labels, seed, size, options), and a column per attribute of what each image shows
    (kind, scene, body, colour, visible fraction, tree cover, ...)."""
    opt = options or Options()
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty(labels.numel(), 3, size, size, dtype=torch.uint8)
    parts = []
    for start in range(0, labels.numel(), CHUNK):
        stop = min(start + CHUNK, labels.numel())
        out[start:stop], meta = _render_chunk(g, labels[start:stop], size, opt)
        parts.append(meta)
    columns = {k: np.concatenate([p[k] for p in parts]) if parts else np.array([]) for k in
               (parts[0] if parts else {})}
    return out, columns


def render(labels: Tensor, seed: int, size: int = 64, options: Options | None = None) -> Tensor:
    """The images of render_with_meta alone."""
    return render_with_meta(labels, seed, size, options)[0]
