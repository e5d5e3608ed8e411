"""Deterministic, learnable stand-ins for Keras's data sets (used only when the real file is
not cached; see :mod:`lamina.datasets._files`).

Each class has a prototype (strokes for digits and clothes, a smooth colour pattern for CIFAR,
a set of favoured words for IMDB and Reuters, a linear rule for the housing prices); samples
are the prototype shifted, scaled and noised.  A tutorial's model therefore learns well above
chance, but numbers measured on these arrays say nothing about the real data.  Everything is
generated in memory from fixed seeds, in about a second, and nothing is written to disk.
"""

from __future__ import annotations

import numpy as np

_SHIFT = 2  # prototypes move by up to this many pixels


def _strokes(rng, size: int, n_strokes: int) -> np.ndarray:
    """A ``(size, size)`` float image of a few thick line segments, values in [0, 1]."""
    img = np.zeros((size, size), np.float32)
    lo, hi = size // 5, size - size // 5
    for _ in range(n_strokes):
        (r0, c0), (r1, c1) = rng.integers(lo, hi, size=(2, 2))
        t = np.linspace(0.0, 1.0, 4 * size)
        rows = np.round(r0 + (r1 - r0) * t).astype(int)
        cols = np.round(c0 + (c1 - c0) * t).astype(int)
        for dr in (-1, 0, 1, 2):
            for dc in (-1, 0, 1, 2):
                weight = 1.0 if abs(dr) + abs(dc) <= 1 else 0.6
                rr, cc = np.clip(rows + dr, 0, size - 1), np.clip(cols + dc, 0, size - 1)
                img[rr, cc] = np.maximum(img[rr, cc], weight)
    return img


def _smooth_pattern(rng, size: int, channels: int) -> np.ndarray:
    """A ``(size, size, channels)`` low-frequency colour pattern, values in [0, 1]."""
    coarse = rng.random((4, 4, channels)).astype(np.float32)
    img = np.repeat(np.repeat(coarse, size // 4, axis=0), size // 4, axis=1)
    kernel = np.ones(5, np.float32) / 5.0
    for axis in (0, 1):  # a box blur smooths the block edges
        img = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, img)
    return img


def _shifted_bank(prototypes: np.ndarray) -> np.ndarray:
    """Every prototype at every shift: ``(classes, shifts, *image)`` uint8."""
    s = _SHIFT
    shifts = [(dr, dc) for dr in range(-s, s + 1) for dc in range(-s, s + 1)]
    bank = np.stack([np.roll(prototypes, (dr, dc), axis=(1, 2)) for dr, dc in shifts], axis=1)
    return np.round(bank * 255).astype(np.uint8)


def images(seed: int, counts, shape, classes: int, kind: str = "strokes"):
    """``[(x uint8 (n, *shape), y uint8 (n,)), ...]`` for each ``n`` in ``counts``."""
    rng = np.random.default_rng(seed)
    if kind == "strokes":
        prototypes = np.stack([_strokes(rng, shape[0], 4) for _ in range(classes)])
    else:
        prototypes = np.stack([_smooth_pattern(rng, shape[0], shape[2]) for _ in range(classes)])
    bank = _shifted_bank(prototypes)
    out = []
    for n in counts:
        y = rng.integers(0, classes, size=n).astype(np.uint8)
        shift = rng.integers(0, bank.shape[1], size=n)
        x = np.empty((n, *shape), np.uint8)
        for begin in range(0, n, 5000):  # in slices: bounded temporary memory
            sl = slice(begin, min(n, begin + 5000))
            part = bank[y[sl], shift[sl]].astype(np.int16)
            scale = rng.integers(20, 33, size=(len(part),) + (1,) * len(shape), dtype=np.int16)
            part = (part * scale) >> 5
            noise = rng.integers(-40, 41, size=part.shape, dtype=np.int16)
            if kind == "strokes":  # clean background, as in MNIST: noise on the strokes only
                noise[part == 0] = 0
            x[sl] = np.clip(part + noise, 0, 255)
        out.append((x, y))
    return out


def _zipf_cdf(vocab: int) -> np.ndarray:
    p = 1.0 / (np.arange(1, vocab + 1) + 10.0)
    return np.cumsum(p / p.sum())


def sequences(seed: int, n: int, classes: int, vocab: int, mean_len: float, max_len: int):
    """``(flat words, lengths, y int64 (n,))``: ragged reviews with words 1..vocab whose
    frequencies follow Zipf's law, each class favouring its own hundred words."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n).astype(np.int64)
    lengths = np.clip(rng.lognormal(np.log(mean_len), 0.6, size=n), 10, max_len).astype(np.int64)
    words = np.searchsorted(_zipf_cdf(vocab), rng.random(int(lengths.sum()))) + 1
    words = np.minimum(words, vocab).astype(np.int64)
    favoured = rng.choice(np.arange(20, min(vocab, 10000)), size=(classes, 100), replace=False)
    owner = np.repeat(y, lengths)
    pick = rng.random(words.size) < 0.08
    words[pick] = favoured[owner[pick], rng.integers(0, 100, size=int(pick.sum()))]
    return words, lengths, y


_COMMON = """the and a of to is br in it i this that was as for with movie but film on not you
are his have he be one all at by an they who so from like her or just about out has if some
there what good more when very up no time even she my would which story only really see their
had can were me well than we much been bad get will do also into people other first great
because how him most don't made its then way make them too could any movies after think
characters watch two films character seen many being life plot never acting little best love
over where did show know ever man does here better end still say scene while why scenes go
something""".split()


def word_index(vocab: int) -> dict:
    """``{word: rank}`` with ranks 1..vocab (common English words first, then ``word<rank>``)."""
    index = {w: i + 1 for i, w in enumerate(dict.fromkeys(_COMMON))}
    for rank in range(len(index) + 1, vocab + 1):
        index[f"word{rank}"] = rank
    return index


def housing(seed: int, n: int, low, high, weights, target_range, dtype):
    """``(x (n, d), y (n,))``: features uniform in ``[low, high]``, the target a fixed linear
    rule of them (plus noise) rescaled to ``target_range``."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    x = low + (high - low) * rng.random((n, low.size))
    z = ((x - low) / (high - low)) @ np.asarray(weights, np.float64)
    z = z + 0.05 * rng.standard_normal(n) * np.abs(np.asarray(weights)).sum()
    z = (z - z.min()) / (z.max() - z.min())
    y = target_range[0] + (target_range[1] - target_range[0]) * z
    return x.astype(dtype), y.astype(dtype)
