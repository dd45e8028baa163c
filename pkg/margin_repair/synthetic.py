"""SYNTHETIC data in the EMNIST file format, for the quickstart on machines without EMNIST. It is NOT EMNIST.

The five files of a split (mapping text, train/test images and labels as gzipped IDX) hold generated
28×28 uint8 "glyphs": each class has two variants, each a set of curved strokes picked from a pool
that all classes share, drawn anti-aliased (mid-grey edges, saturated cores) from a distance field.
Every image jitters its class template: variant, shift of up to 2 pixels, stroke thickness and
brightness, strokes left out, and a few stray bright pixels. Images are stored as EMNIST stores them,
transposed, so ``emnist.canonicalize_upright`` gives the upright glyph. Same arguments, same bytes.

Results on this data exercise the code paths only; they say nothing about EMNIST. Anything made from
it (tables, figures, records) should say so with :data:`SYNTHETIC_LABEL`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from runlab import ConfigError

from .emnist import GRID, SplitFiles
from .idx import write_images, write_labels

__all__ = ["SYNTHETIC_LABEL", "class_templates", "split_codepoints", "write_synthetic_split"]

SYNTHETIC_LABEL = "synthetic EMNIST-format data (not EMNIST)"

_DIGITS = tuple(range(48, 58))
_UPPER = tuple(range(65, 91))
_LOWER = tuple(range(97, 123))
_LOWER_UNMERGED = tuple(ord(letter) for letter in "abdefghnqrt")  # the lower-case classes balanced/bymerge keep

_SHIFT_PX = 2  # templates move by up to this many pixels each way
_CANVAS = GRID + 2 * _SHIFT_PX
_GLYPH_BOX = (6.0, 26.0)  # canvas coordinates strokes are drawn in: the central 20×20 of the image
_POOL_STROKES = 24
_STROKES_PER_GLYPH = (3, 5)  # inclusive
_VARIANTS = 2
_SECOND_VARIANT_P = 0.35
_STROKE_DROP_P = 0.15  # each stroke but the first is left out with this probability
_EXTRA_STROKE_P = 0.15  # a stray stroke from the pool is added with this probability
_HALF_WIDTH_PX = (0.55, 1.5)  # full-brightness half width of a stroke
_EDGE_PX = 1.1  # brightness falls linearly to 0 over this distance beyond the half width
_GAIN = (255.0, 400.0)  # peak brightness before saturation at 255
_STRAY_PIXELS = 4  # candidate stray pixels per image, each kept with probability 1/2
_CHUNK_IMAGES = 8192  # a module constant: the random stream depends on it


def split_codepoints(split: str) -> dict[int, tuple[int, ...]]:
    """Dataset label -> codepoints of its mapping line, as the real EMNIST mapping files of ``split`` have them."""
    SplitFiles(split)  # validates the name
    if split in ("digits", "mnist"):
        return {label: (point,) for label, point in enumerate(_DIGITS)}
    if split == "letters":
        return {label: (upper, lower) for label, (upper, lower) in enumerate(zip(_UPPER, _LOWER), start=1)}
    lower = _LOWER if split == "byclass" else _LOWER_UNMERGED
    return {label: (point,) for label, point in enumerate(_DIGITS + _UPPER + lower)}


def class_templates(split: str = "digits", *, seed: int) -> np.ndarray:
    """Upright noise-free glyphs ``(classes, variants, 28, 28)`` uint8: mid thickness, no shift, every stroke."""
    pool, strokes = _glyphs(np.random.default_rng(_streams(seed)[0]), len(split_codepoints(split)))
    window = pool[strokes][..., _SHIFT_PX:_SHIFT_PX + GRID, _SHIFT_PX:_SHIFT_PX + GRID].min(axis=2)
    return _brightness(window, half_width=np.float32(np.mean(_HALF_WIDTH_PX)), gain=np.float32(_GAIN[1]))


def write_synthetic_split(folder: Path, split: str = "digits", *, n_train: int, n_test: int, seed: int) -> list[str]:
    """Write the five files ``SplitFiles(split).all()`` names into ``folder`` and return those names.

    ``n_train``/``n_test`` images per part, classes balanced (all appear once a part has as many
    images as the split has classes). Byte-identical for the same arguments. Drawing takes about 1 s per
    100,000 images; the gzip (level 9) in ``idx.write_images`` takes about 0.4 s per 1,000 and dominates.
    """
    files = SplitFiles(split)
    for name, count in (("n_train", n_train), ("n_test", n_test)):
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1:
            raise ConfigError(f"synthetic split: {name} must be an integer >= 1, got {count!r}",
                              f"ask for at least one {name[2:]} image")
    template_stream, *part_streams = _streams(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    codepoints = split_codepoints(split)
    labels = np.array(sorted(codepoints), dtype=np.uint8)
    glyphs = _glyphs(np.random.default_rng(template_stream), len(labels))
    (folder / files.mapping).write_text(
        "".join(f"{label} {' '.join(map(str, points))}\n" for label, points in codepoints.items()), encoding="utf-8")
    for part, count, stream in zip(("train", "test"), (int(n_train), int(n_test)), part_streams):
        images, classes = _render_part(*glyphs, count, np.random.default_rng(stream))
        write_labels(folder / files.labels(part), labels[classes])
        write_images(folder / files.images(part), images)
        del images  # before the next part is drawn: one part in memory at a time
    return files.all()


def _streams(seed: int) -> list[np.random.SeedSequence]:
    """Independent streams: templates, train, test."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"synthetic split: seed must be an integer >= 0, got {seed!r}", "pass a non-negative seed")
    return np.random.SeedSequence([int(seed), 0x5E11D]).spawn(3)


def _glyphs(rng: np.random.Generator, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The stroke pool and each glyph's strokes.

    Returns distances (px) from each canvas pixel to each pool stroke ``(pool + 1, 32, 32)`` float32, the
    last entry ``inf`` (no stroke), and stroke indices ``(classes, variants, 5)`` into it, padded with that
    last entry. Every (class, variant) stroke set is distinct.
    """
    pool = np.stack([*(_bezier_distance(_random_curve(rng)) for _ in range(_POOL_STROKES)),
                     np.full((_CANVAS, _CANVAS), np.inf, np.float32)])
    strokes = np.full((n_classes, _VARIANTS, _STROKES_PER_GLYPH[1]), _POOL_STROKES, np.intp)
    seen: set[tuple[int, ...]] = set()
    for klass in range(n_classes):
        chosen: list[int] = []
        for variant in range(_VARIANTS):
            while True:
                if variant == 0:
                    size = int(rng.integers(_STROKES_PER_GLYPH[0], _STROKES_PER_GLYPH[1] + 1))
                    candidate = [int(s) for s in rng.choice(_POOL_STROKES, size=size, replace=False)]
                else:  # an allograph: the first variant with one stroke swapped for another
                    candidate = list(chosen)
                    spare = np.setdiff1d(np.arange(_POOL_STROKES), chosen)
                    candidate[int(rng.integers(len(candidate)))] = int(rng.choice(spare))
                if tuple(sorted(candidate)) not in seen:
                    break
            seen.add(tuple(sorted(candidate)))
            chosen = candidate
            strokes[klass, variant, :len(chosen)] = chosen
    return pool, strokes


def _random_curve(rng: np.random.Generator) -> np.ndarray:
    """Start, control and end point ``(3, 2)`` of a quadratic Bézier stroke 6 to 16 px long inside the glyph box."""
    low, high = _GLYPH_BOX
    while True:
        start, end = rng.uniform(low, high, size=(2, 2))
        if 6.0 <= np.hypot(*(end - start)) <= 16.0:
            break
    bend = rng.normal(0.0, 3.0, size=2)
    return np.stack([start, np.clip((start + end) / 2 + bend, low, high), end])


def _bezier_distance(points: np.ndarray, pieces: int = 8) -> np.ndarray:
    """Distance (px) from each pixel centre of the ``32×32`` canvas to a Bézier curve, as a polyline of ``pieces``."""
    t = np.linspace(0.0, 1.0, pieces + 1)[:, None]
    line = (1 - t) ** 2 * points[0] + 2 * (1 - t) * t * points[1] + t**2 * points[2]
    grid = np.stack(np.meshgrid(np.arange(_CANVAS), np.arange(_CANVAS), indexing="ij"), axis=-1).reshape(-1, 1, 2)
    a, b = line[:-1], line[1:]
    along = np.clip(((grid - a) * (b - a)).sum(-1) / np.maximum(((b - a) ** 2).sum(-1), 1e-9), 0.0, 1.0)
    nearest = a + along[..., None] * (b - a)
    return np.sqrt(((grid - nearest) ** 2).sum(-1)).min(axis=1).reshape(_CANVAS, _CANVAS).astype(np.float32)


def _brightness(distance: np.ndarray, *, half_width: np.ndarray, gain: np.ndarray) -> np.ndarray:
    """uint8 pixel values of strokes at ``distance`` px: ``gain`` within ``half_width``, a linear edge, cut at 255."""
    profile = np.clip(1.0 + (half_width - distance) / np.float32(_EDGE_PX), 0.0, 1.0)
    return np.minimum(profile * gain, 255.0).astype(np.uint8)


def _render_part(pool: np.ndarray, strokes: np.ndarray, count: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``count`` jittered images ``(count, 28, 28)`` uint8 in EMNIST's raw (transposed) orientation, and their classes.

    Classes are balanced and shuffled; images are drawn in chunks of ``_CHUNK_IMAGES``.
    """
    n_classes = strokes.shape[0]
    classes = rng.permutation(np.arange(count) % n_classes)
    windows = sliding_window_view(pool, (GRID, GRID), axis=(-2, -1))  # (pool + 1, 5, 5, 28, 28): every shift
    none = pool.shape[0] - 1
    images = np.empty((count, GRID, GRID), np.uint8)
    for start in range(0, count, _CHUNK_IMAGES):
        chunk = classes[start:start + _CHUNK_IMAGES]
        size = len(chunk)
        variant = (rng.random(size) < _SECOND_VARIANT_P).astype(np.intp)
        drawn = strokes[chunk, variant]  # (size, 5)
        drawn[:, 1:] = np.where(rng.random((size, drawn.shape[1] - 1)) < _STROKE_DROP_P, none, drawn[:, 1:])
        extra = np.where(rng.random(size) < _EXTRA_STROKE_P, rng.integers(0, none, size), none)
        drawn = np.concatenate([drawn, extra[:, None]], axis=1)
        rows, cols = rng.binomial(2 * _SHIFT_PX, 0.5, size=(2, size))
        nearest = windows[drawn[:, 0], rows, cols]
        for stroke in range(1, drawn.shape[1]):
            np.minimum(nearest, windows[drawn[:, stroke], rows, cols], out=nearest)
        half_width = rng.uniform(*_HALF_WIDTH_PX, size=(size, 1, 1)).astype(np.float32)
        gain = rng.uniform(*_GAIN, size=(size, 1, 1)).astype(np.float32)
        upright = _brightness(nearest, half_width=half_width, gain=gain).reshape(size, GRID * GRID)
        stray_at = rng.integers(0, GRID * GRID, size=(size, _STRAY_PIXELS))
        stray_value = np.where(rng.random((size, _STRAY_PIXELS)) < 0.5,
                               rng.integers(64, 256, size=(size, _STRAY_PIXELS)), 0).astype(np.uint8)
        row_index = np.arange(size)[:, None]
        upright[row_index, stray_at] = np.maximum(upright[row_index, stray_at], stray_value)
        images[start:start + size] = upright.reshape(size, GRID, GRID).transpose(0, 2, 1)
    return images, classes
