"""Procedural aerial patches: top-down cars and the things that look like them.

Every image is drawn from a handful of per-image parameters (scene type, sun, car size, heading,
colour, ...) by whole-batch tensor arithmetic on a pixel grid: there is no per-image Python loop,
so the exercise's 5 545 images render in a few seconds on one core.

Geometry is in pixels at a ground sampling distance (GSD) of 10-15 cm per pixel, drawn per image.
A 64 px patch therefore covers 6.4-9.6 m of ground, and a 4.5 m car spans 30-45 px.

Class 1 ("car"): one car whose centre lies near the patch centre, mostly visible.
Class 0 ("notcar"): empty ground, and hard negatives: car-sized boxes (roof units, containers,
skips), road markings, motorcycles, and cars cut by the patch edge so that less than half of the
car is visible (its centre lies outside the patch; a centrally symmetric convex shape then has at
most half of its area inside).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

Tensor = torch.Tensor

# Scene (ground) types.
ASPHALT, PARKING, GRASS, SOIL, ROOF, PAVING = range(6)
# Not-car kinds (class 0).
EMPTY, BOX, MARKING, CUT_CAR, MOTORBIKE = range(5)
NOTCAR_MIX = (0.30, 0.22, 0.15, 0.23, 0.10)  # shares of the not-car kinds above

CHUNK = 256  # images rendered per batch; fixed so that a seed always gives the same bytes


# --------------------------------------------------------------------------------------------
# small helpers: random draws and pixel-grid geometry
# --------------------------------------------------------------------------------------------
def _u(g: Tensor | torch.Generator, n: int, lo: float, hi: float) -> Tensor:
    """n uniform draws in [lo, hi), shaped (n, 1, 1) to broadcast over the pixel grid."""
    return (lo + (hi - lo) * torch.rand(n, generator=g)).view(n, 1, 1)


def _p(g: torch.Generator, n: int, prob: float) -> Tensor:
    """n Bernoulli(prob) draws as floats shaped (n, 1, 1)."""
    return (torch.rand(n, generator=g) < prob).float().view(n, 1, 1)


def _choice(g: torch.Generator, n: int, probs) -> Tensor:
    """n categorical draws (int64, shape (n,))."""
    return torch.multinomial(torch.tensor(probs, dtype=torch.float), n, replacement=True, generator=g)


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


def _band(t: Tensor, lo, hi, soft: float = 0.5) -> Tensor:
    """Soft indicator of lo <= t <= hi."""
    return torch.sigmoid((t - lo) / soft) * torch.sigmoid((hi - t) / soft)


def _noise(g: torch.Generator, n: int, size: int, cells: int) -> Tensor:
    """Smooth value noise with `cells` random values across the patch, in about [-1, 1]."""
    base = torch.rand(n, 1, cells + 1, cells + 1, generator=g) * 2 - 1
    up = F.interpolate(base, size=(size + size // cells, size + size // cells), mode="bicubic",
                       align_corners=False)
    return up[:, 0, :size, :size]


def _blend(img: Tensor, mask: Tensor, colour: Tensor) -> Tensor:
    """Paint `colour` ((n,3,1,1) or (n,3,H,W)) over img with coverage mask (n,H,W)."""
    return torch.lerp(img, colour.expand_as(img), mask.unsqueeze(1))


def _take(arg, idx: Tensor, n: int):
    """Slice per-image arguments (tensors with n rows, and tuples/dicts of them) to rows idx."""
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
    if idx.numel():
        img = img.clone()
        img[idx] = fn(g, img[idx], *(_take(a, idx, n) for a in args))
    return img


def _rgb(r, g_, b) -> Tensor:
    return torch.stack([r, g_, b], dim=1)  # (n,3,1,1) from three (n,1,1)


# --------------------------------------------------------------------------------------------
# ground
# --------------------------------------------------------------------------------------------
def _ground_colour(g: torch.Generator, kind: Tensor) -> Tensor:
    """Base colour per image for each scene type, shape (n,3,1,1)."""
    n = kind.numel()
    k = kind.view(n, 1, 1)
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
    table = torch.stack([asphalt, asphalt, grass, soil, roof, paving], dim=0)  # (6,n,3,1,1)
    return table[kind, torch.arange(n)]


def _ground(g: torch.Generator, kind: Tensor, x: Tensor, y: Tensor, phi: Tensor,
            off: Tensor, gsd: Tensor, fields: dict[str, Tensor]) -> Tensor:
    """Textured ground of the given types: asphalt with wear and cracks, parking bays, grass,
    soil, roofs with seams, paving with joints."""
    n, size = kind.numel(), x.shape[-1]
    k = kind.view(n, 1, 1)
    img = _ground_colour(g, kind).expand(n, 3, size, size).clone()
    fine, mid, coarse = fields["fine"], fields["mid"], fields["coarse"]
    # texture amplitude per type: asphalt, parking, grass, soil, roof, paving
    amp_fine = torch.tensor([0.035, 0.035, 0.07, 0.05, 0.02, 0.025])[k]
    amp_coarse = torch.tensor([0.05, 0.05, 0.08, 0.07, 0.03, 0.03])[k]
    shade = 1 + amp_fine * fine + amp_coarse * coarse * _u(g, n, 0.3, 1.0)
    img = img * shade.unsqueeze(1)
    # asphalt wear: dark oil stains and lighter worn patches, plus wiggly cracks
    is_asphalt = (k <= PARKING).float()
    stain = torch.relu(mid - 0.35) * _u(g, n, -0.25, 0.15) * is_asphalt
    crack = torch.sigmoid((0.05 - (coarse + 0.3 * mid).abs()) * 40) * _p(g, n, 0.5) * is_asphalt
    img = img * (1 + stain - 0.35 * crack).unsqueeze(1)
    # scene frame (roads, bays and seams follow it)
    u, v = _frame(x, y, off[0], off[1], phi)
    # parking bays: lines along the heading every 2.5 m across it, ending at an aisle
    bay = 2.5 / gsd
    pos = torch.remainder(v + bay / 2, bay)
    bay_line = _band(pos, 0, 0.12 / gsd + 0.6) + _band(pos, bay - 0.12 / gsd - 0.6, bay)
    aisle = torch.sigmoid((u - off[2]) / 0.5)  # lines only on one side of the aisle edge
    paint_alpha = (kind.view(n, 1, 1) == PARKING).float() * bay_line.clamp(0, 1) * aisle
    paint_alpha = paint_alpha * (0.55 + 0.45 * (fine * 0.5 + 0.5)) * _u(g, n, 0.6, 1.0)
    paint = _rgb(*[_u(g, n, 0.80, 0.92)] * 2, _u(g, n, 0.55, 0.9))  # white to yellowish
    img = _blend(img, paint_alpha, paint)
    # roof seams / tiles: periodic dark lines along the scene heading
    period = _u(g, n, 5, 12)
    seam = (torch.cos(2 * math.pi * v / period) > 0.85).float()
    img = img * (1 - 0.25 * seam * (k == ROOF).float()).unsqueeze(1)
    # paving joints: a square grid
    cell = _u(g, n, 6, 11)
    joint = ((torch.remainder(u, cell) < 0.9) | (torch.remainder(v, cell) < 0.9)).float()
    img = img * (1 - 0.18 * joint * (k == PAVING).float()).unsqueeze(1)
    return img


def _kerb(g, img, other, x, y, phi, off, gsd, fields, at) -> Tensor:
    """A second ground type behind a straight kerb line through `at` (x, y, angle)."""
    n = img.shape[0]
    img2 = _ground(g, other, x, y, phi, off, gsd, fields)
    ku, _ = _frame(x, y, *at)
    side = torch.sigmoid(ku / 0.6).unsqueeze(1)
    img = torch.lerp(img, img2, side)
    kerb = _band(ku, -0.15 / gsd - 0.5, 0.15 / gsd + 0.5, soft=0.4)
    return _blend(img, kerb, _rgb(*[_u(g, n, 0.55, 0.72)] * 3))


# --------------------------------------------------------------------------------------------
# objects
# --------------------------------------------------------------------------------------------
CAR_COLOURS = (  # share, RGB (reflectance)
    (0.25, (0.86, 0.87, 0.88)),  # white
    (0.20, (0.06, 0.06, 0.07)),  # black
    (0.17, (0.38, 0.39, 0.41)),  # grey
    (0.15, (0.66, 0.67, 0.69)),  # silver
    (0.08, (0.62, 0.09, 0.08)),  # red
    (0.08, (0.10, 0.20, 0.50)),  # blue
    (0.04, (0.55, 0.50, 0.38)),  # beige
    (0.03, (0.15, 0.32, 0.16)),  # green
)


def _car_colour(g: torch.Generator, n: int) -> Tensor:
    idx = _choice(g, n, [c[0] for c in CAR_COLOURS])
    base = torch.tensor([c[1] for c in CAR_COLOURS])[idx].view(n, 3, 1, 1)
    jitter = 1 + 0.08 * (torch.rand(n, 1, 1, 1, generator=g) * 2 - 1)
    return (base * jitter).clamp(0, 1)


def _car_size(g: torch.Generator, n: int, gsd: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Half-length and half-width in pixels, and a van flag: compact, saloon, SUV, van."""
    kind = _choice(g, n, [0.30, 0.40, 0.15, 0.15]).view(n, 1, 1)
    lo = torch.tensor([3.5, 4.3, 4.4, 4.9])[kind]
    hi = torch.tensor([4.2, 4.9, 4.9, 5.9])[kind]
    wlo = torch.tensor([1.62, 1.72, 1.82, 1.90])[kind]
    whi = torch.tensor([1.75, 1.86, 2.00, 2.10])[kind]
    length = lo + (hi - lo) * torch.rand(n, 1, 1, generator=g)
    width = wlo + (whi - wlo) * torch.rand(n, 1, 1, generator=g)
    return length / gsd / 2, width / gsd / 2, (kind == 3).float()


def _car(g, img, x, y, cx, cy, theta, a, b, van, sun, gsd, fine) -> Tensor:
    """Draw a top-down car (shadow first) at (cx, cy) heading theta into img."""
    n = img.shape[0]
    # cast shadow: the body outline shifted away from the sun, a little wider
    su, sv = _frame(x, y, cx + sun[0], cy + sun[1], theta)
    shadow = _rect(su, sv, a * 1.02, b * 1.08, power=6, soft=1.0)
    img = img * (1 - sun[2] * shadow).unsqueeze(1)
    u, v = _frame(x, y, cx, cy, theta)
    body = _rect(u, v, a, b, power=6, soft=0.6)
    colour = _car_colour(g, n)
    t = u / a  # -1 rear ... +1 front
    w = v.abs() / b
    # body shading: darker towards the rounded sides, a soft highlight along the roof
    shade = (1 - 0.28 * w ** 4) * (1 + 0.08 * torch.exp(-((v / b - 0.15) ** 2) / 0.08))
    paint = (colour * shade.unsqueeze(1)) * (1 + 0.02 * fine.unsqueeze(1))
    img = _blend(img, body, paint)
    # glass: windscreen, rear window (not on vans), side windows along the cabin
    glass = _rgb(_u(g, n, 0.06, 0.16), _u(g, n, 0.08, 0.18), _u(g, n, 0.10, 0.24))
    glass = glass * (1 + 0.5 * (0.5 + 0.5 * torch.tanh(v / b * 2)).unsqueeze(1))  # sky sheen
    ws_lo = 0.18 + 0.37 * van + 0.06 * torch.rand(n, 1, 1, generator=g)
    ws_hi = ws_lo + 0.25 - 0.05 * van
    narrow = 0.80 - 0.10 * (t - ws_lo) / (ws_hi - ws_lo)  # windscreen tapers to the front
    windscreen = _band(t * a, ws_lo * a, ws_hi * a) * torch.sigmoid((narrow - w) * b / 0.5)
    rw_hi = -0.30 - 0.05 * torch.rand(n, 1, 1, generator=g)
    rear = _band(t * a, (rw_hi - 0.22) * a, rw_hi * a) * torch.sigmoid((0.74 - w) * b / 0.5) * (1 - van)
    cabin_lo = torch.where(van > 0, -0.9 * torch.ones_like(rw_hi), rw_hi)
    side = _band(t * a, cabin_lo * a, ws_lo * a) * _band(w * b, 0.74 * b, 0.90 * b, soft=0.4)
    glass_alpha = (windscreen + rear + 0.8 * side).clamp(0, 1) * body
    img = _blend(img, glass_alpha, glass)
    # mirrors just ahead of the cabin
    for sgn in (-1.0, 1.0):
        mu, mv = _frame(x, y, cx, cy, theta)
        m = _rect(mu - ws_lo * a, mv - sgn * (b + 0.1 / gsd), 0.12 / gsd + 0.4, 0.1 / gsd + 0.3,
                  power=2, soft=0.4)
        img = _blend(img, m * 0.8, colour)
    return img


def _box(g, img, x, y, cx, cy, theta, sun, gsd, fine, on_roof) -> Tensor:
    """A car-sized box: a rooftop HVAC unit, a shipping container or a skip."""
    n = img.shape[0]
    kind = torch.where(on_roof.view(n) > 0, torch.zeros(n, dtype=torch.long),
                       _choice(g, n, [0.2, 0.45, 0.35])).view(n, 1, 1)
    length = torch.tensor([3.0, 6.06, 3.6])[kind] * _u(g, n, 0.8, 1.15)
    width = torch.tensor([1.8, 2.44, 1.8])[kind] * _u(g, n, 0.85, 1.1)
    a, b = length / gsd / 2, width / gsd / 2
    su, sv = _frame(x, y, cx + sun[0] * 1.3, cy + sun[1] * 1.3, theta)
    img = img * (1 - sun[2] * _rect(su, sv, a, b, power=12, soft=0.8)).unsqueeze(1)
    u, v = _frame(x, y, cx, cy, theta)
    body = _rect(u, v, a, b, power=12, soft=0.5)
    hvac = _rgb(*[_u(g, n, 0.55, 0.85)] * 3)
    cont = _rgb(_u(g, n, 0.1, 0.75), _u(g, n, 0.1, 0.45), _u(g, n, 0.08, 0.45))
    skip = _rgb(_u(g, n, 0.5, 0.85), _u(g, n, 0.35, 0.6), _u(g, n, 0.02, 0.15))
    colour = torch.stack([hvac, cont, skip])[kind.view(n), torch.arange(n)]
    # surface detail: fan discs on HVAC units, corrugation on containers, dark interior on skips
    fan = _rect(torch.remainder(u + a, 2 * b) - b, v, 0.7 * b, 0.7 * b, power=2, soft=0.5)
    ribs = (torch.cos(2 * math.pi * u / (0.3 / gsd + 1.2)) > 0.3).float()
    inner = _rect(u, v, a * 0.85, b * 0.72, power=8, soft=0.5)
    detail = torch.where(kind == 0, 1 - 0.5 * fan, torch.where(kind == 1, 1 - 0.15 * ribs,
                                                                  1 - 0.55 * inner))
    img = _blend(img, body, colour * (detail * (1 + 0.03 * fine)).unsqueeze(1))
    return img


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


def _motorbike(g, img, x, y, cx, cy, theta, sun, gsd) -> Tensor:
    n = img.shape[0]
    a, b = 1.05 / gsd + 0 * cx, 0.4 / gsd + 0 * cx
    su, sv = _frame(x, y, cx + sun[0] * 0.6, cy + sun[1] * 0.6, theta)
    img = img * (1 - sun[2] * _rect(su, sv, a, b * 0.8, power=2, soft=0.6)).unsqueeze(1)
    u, v = _frame(x, y, cx, cy, theta)
    img = _blend(img, _rect(u, v, a, b, power=2, soft=0.5), _car_colour(g, n))
    bar = _rect(u - 0.5 * a, v, 0.08 / gsd + 0.4, 0.4 / gsd * 1.6, power=8, soft=0.4)
    return _blend(img, bar, _rgb(*[_u(g, n, 0.05, 0.2)] * 3))


def _tree(g, img, x, y, cx, cy, radius, sun, fields) -> Tensor:
    """A tree crown: lumpy dark-green disc with leaf texture, and its shadow."""
    n = img.shape[0]
    lump = 1 + 0.22 * fields["mid"]
    d_sh = torch.sqrt((x - cx - 1.5 * sun[0]) ** 2 + (y - cy - 1.5 * sun[1]) ** 2) / (radius * lump)
    img = img * (1 - sun[2] * torch.sigmoid((1 - d_sh) * radius / 1.5)).unsqueeze(1)
    d = torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) / (radius * lump)
    crown = torch.sigmoid((1 - d) * radius / 1.2)
    leaf = _rgb(_u(g, n, 0.10, 0.22), _u(g, n, 0.20, 0.34), _u(g, n, 0.06, 0.14))
    # self-shadow on the side away from the sun, leaf speckle
    side = ((x - cx) * sun[0] + (y - cy) * sun[1]) / (radius * sun[3])
    tex = (1 + 0.25 * fields["fine"] - 0.25 * side.clamp(-1, 1)).unsqueeze(1)
    return _blend(img, crown, leaf * tex)


# --------------------------------------------------------------------------------------------
# camera
# --------------------------------------------------------------------------------------------
def _blur(img: Tensor, sigma: Tensor) -> Tensor:
    """Gaussian blur with a per-image sigma, as one grouped convolution."""
    n, c, h, w = img.shape
    r = torch.arange(-2, 3, dtype=torch.float)
    k1 = torch.exp(-(r.view(1, 5) ** 2) / (2 * sigma.view(n, 1) ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)
    k2 = (k1.view(n, 5, 1) * k1.view(n, 1, 5)).repeat_interleave(c, 0).unsqueeze(1)
    padded = F.pad(img.reshape(1, n * c, h, w), (2, 2, 2, 2), mode="reflect")
    return F.conv2d(padded, k2, groups=n * c).view(n, c, h, w)


def _camera(g, img, size) -> Tensor:
    """Illumination, colour cast, haze, optics blur and sensor noise, then 8-bit quantisation."""
    n = img.shape[0]
    gain = _u(g, n, 0.65, 1.25).unsqueeze(1)
    cast = 1 + 0.05 * (torch.rand(n, 3, 1, 1, generator=g) * 2 - 1)
    img = img * gain * cast
    haze = (torch.rand(n, 1, 1, 1, generator=g) ** 2) * 0.45
    haze_colour = torch.tensor([0.62, 0.66, 0.72]).view(1, 3, 1, 1)
    img = img * (1 - haze) + haze_colour * haze
    img = _blur(img, _u(g, n, 0.35, 1.6))
    noise = _u(g, n, 0.004, 0.04).unsqueeze(1) * torch.randn(n, 3, size, size, generator=g)
    img = img + noise
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


# --------------------------------------------------------------------------------------------
# scenes
# --------------------------------------------------------------------------------------------
def _render_chunk(g: torch.Generator, labels: Tensor, size: int) -> Tensor:
    n = labels.numel()
    x, y = _grid(size)
    is_car = labels.view(n, 1, 1).float()
    notcar_kind = _choice(g, n, NOTCAR_MIX).view(n, 1, 1)
    gsd = _u(g, n, 0.10, 0.15)
    fields = {"fine": _noise(g, n, size, 24), "mid": _noise(g, n, size, 8),
              "coarse": _noise(g, n, size, 3)}
    # scene: cars mostly on parking lots and roads; boxes mostly on roofs
    scene_car = _choice(g, n, [0.30, 0.45, 0.03, 0.02, 0.02, 0.18])
    scene_box = _choice(g, n, [0.15, 0.15, 0.10, 0.10, 0.40, 0.10])
    scene_any = _choice(g, n, [0.22, 0.25, 0.17, 0.10, 0.11, 0.15])
    kind = torch.where(labels > 0, scene_car,
                       torch.where(notcar_kind.view(n) == BOX, scene_box,
                                   torch.where((notcar_kind.view(n) == CUT_CAR)
                                               | (notcar_kind.view(n) == MARKING),
                                               torch.where(scene_car == GRASS, ASPHALT, scene_car),
                                               scene_any)))
    phi = _u(g, n, 0, 2 * math.pi)  # scene heading: roads, bays, seams
    # where the scene's frame sits: bay lines are centred on the patch centre +- jitter
    off = (size / 2 + _u(g, n, -2, 2), size / 2 + _u(g, n, -2, 2), _u(g, n, -60, -5))
    img = _ground(g, kind, x, y, phi, off, gsd, fields)
    # kerb: sometimes a second ground type behind a kerb line
    has_kerb = torch.rand(n, generator=g) < 0.3
    other = _choice(g, n, [0.25, 0.0, 0.40, 0.15, 0.0, 0.20])
    kerb_at = (_u(g, n, 0, size), _u(g, n, 0, size), _u(g, n, 0, 2 * math.pi))
    img = _draw_where(has_kerb, _kerb, g, img, other, x, y, phi, off, gsd, fields, kerb_at)
    # sun: shadow offset (pixels) along its azimuth, shadow darkness, self-shade normaliser
    az = _u(g, n, 0, 2 * math.pi)
    length = _u(g, n, 0.3, 1.4) / gsd
    sun = (length * torch.cos(az), length * torch.sin(az), _u(g, n, 0.35, 0.6), 1.0 + 0 * az)
    negative = labels == 0
    nk = notcar_kind.view(n)
    # road markings (negatives)
    heading_jitter = _u(g, n, -0.12, 0.12) + math.pi * _p(g, n, 0.5)
    mark_at = (size / 2 + _u(g, n, -10, 10), size / 2 + _u(g, n, -10, 10))
    img = _draw_where(negative & (nk == MARKING), _marking, g, img, x, y, *mark_at,
                      phi + heading_jitter, gsd, fields["fine"])
    # neighbours: cars in adjacent bays, centred outside the patch (so never more than half in)
    a, b, van = _car_size(g, n, gsd)
    bay = 2.5 / gsd
    nb_side = torch.where(_p(g, n, 0.5) > 0, 1.0, -1.0)
    nb_v = nb_side * torch.maximum(bay, size / 2 + b * 0.2 + _u(g, n, 0, 6))
    nb_theta = phi + math.pi * _p(g, n, 0.5) + _u(g, n, -0.05, 0.05)
    nb_cx = off[0] - nb_v * torch.sin(phi) + _u(g, n, -4, 4) * torch.cos(phi)
    nb_cy = off[1] + nb_v * torch.cos(phi) + _u(g, n, -4, 4) * torch.sin(phi)
    with_nb = (kind == PARKING) & (torch.rand(n, generator=g) < 0.5)
    img = _draw_where(with_nb, _car, g, img, x, y, nb_cx, nb_cy, nb_theta, a, b, van, sun, gsd,
                      fields["fine"])
    # the main object
    a, b, van = _car_size(g, n, gsd)
    on_lane = (kind.view(n, 1, 1) == PARKING) | (kind.view(n, 1, 1) == ASPHALT)
    theta = torch.where(on_lane & (_p(g, n, 0.8) > 0),
                        phi + math.pi * _p(g, n, 0.5) + _u(g, n, -0.08, 0.08),
                        _u(g, n, 0, 2 * math.pi))
    cx = size / 2 + _u(g, n, -11, 11)
    cy = size / 2 + _u(g, n, -11, 11)
    # cut cars: centre outside the patch, up to 0.6 half-length beyond an edge
    edge = _choice(g, n, [0.25] * 4).view(n, 1, 1)
    along = _u(g, n, 0, size)
    out = _u(g, n, 0.5, 1.0) + _u(g, n, 0, 0.35) * a
    cut_x = torch.where(edge == 0, -out, torch.where(edge == 1, size + out, along))
    cut_y = torch.where(edge == 2, -out, torch.where(edge == 3, size + out, along))
    cut = negative & (nk == CUT_CAR)
    cx = torch.where(cut.view(n, 1, 1), cut_x, cx)
    cy = torch.where(cut.view(n, 1, 1), cut_y, cy)
    img = _draw_where(~negative | cut, _car, g, img, x, y, cx, cy, theta, a, b, van, sun, gsd,
                      fields["fine"])
    img = _draw_where(negative & (nk == BOX), _box, g, img, x, y, cx, cy, theta, sun, gsd,
                      fields["fine"], (kind.view(n, 1, 1) == ROOF).float())
    img = _draw_where(negative & (nk == MOTORBIKE), _motorbike, g, img, x, y, cx, cy, theta, sun,
                      gsd)
    # trees: over a car sometimes (partly hiding it), anywhere in other scenes
    radius = _u(g, n, 1.2, 3.0) / gsd
    near = torch.where(_p(g, n, 0.5) > 0, 1.0, -1.0)
    reach = b + radius * _u(g, n, 0.15, 0.8)
    tcx = torch.where(is_car > 0, cx + near * reach * torch.sin(theta), _u(g, n, -10, size + 10))
    tcy = torch.where(is_car > 0, cy - near * reach * torch.cos(theta), _u(g, n, -10, size + 10))
    tree_prob = torch.where(is_car.view(n) > 0, 0.3, torch.where(kind == GRASS, 0.5, 0.15))
    has_tree = torch.rand(n, generator=g) < tree_prob
    img = _draw_where(has_tree, _tree, g, img, x, y, tcx, tcy, radius, sun, fields)
    return _camera(g, img.clamp(0, 1.2), size)


def render(labels: Tensor, seed: int, size: int = 64) -> Tensor:
    """Render one uint8 image (3×size×size) per label (0 = not-car, 1 = car), deterministically
    for (labels, seed, size)."""
    g = torch.Generator().manual_seed(int(seed))
    out = torch.empty(labels.numel(), 3, size, size, dtype=torch.uint8)
    for start in range(0, labels.numel(), CHUNK):
        stop = min(start + CHUNK, labels.numel())
        out[start:stop] = _render_chunk(g, labels[start:stop], size)
    return out
