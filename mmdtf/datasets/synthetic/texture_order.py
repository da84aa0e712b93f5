#!/usr/bin/env python
"""A second order-only video dataset, made of natural images
(``tools/data/make_texture_order_dataset.py`` writes it to ``data/textures``).

The embedded demo's (:mod:`.shape_order`) draws flat synthetic
objects. This one films real pictures with a moving camera, so that a fix
judged on both is not tuned to one kind of data. The pictures are the ones
Matplotlib ships (installed with MMEngine): a photograph (Grace Hopper), a
photographed object, and two terrain elevation maps rendered with hill
shading, i.e. natural textures.

Classes come in time-reversed pairs, exactly as in the demo: the odd class
of a pair is the even class's clip reversed, so the two have the same frames
and differ only in their order (a 2D network is capped at 50%):

- ``rotate_clockwise`` / ``rotate_anticlockwise``: the camera rolls about the
  frame centre (3-7 degrees a frame);
- ``zoom_in`` / ``zoom_out``: the field of view shrinks to about half while
  drifting;
- ``bright_then_dark`` / ``dark_then_bright``: while the camera pans slowly
  in a random direction, a round patch of the scene lights up for 2-3
  frames, and at least 8 frames later the same patch darkens: two events
  further apart than the stem's 4-frame tubelets (a long-range order).

Layout, lists and the per-video seeding are the demo's
(:mod:`.video_files`).
"""
import cv2
import numpy as np

from .video_files import write_dataset

CLASSES = (
    'rotate_clockwise',      # 0
    'rotate_anticlockwise',  # 1 = reverse of 0
    'zoom_in',               # 2
    'zoom_out',              # 3 = reverse of 2
    'bright_then_dark',      # 4
    'dark_then_bright',      # 5 = reverse of 4
)
MIN_EVENT_GAP = 8
_PICTURES = None


def _hillshade(elevation: np.ndarray, cmap: str) -> np.ndarray:
    """Elevation -> RGB float image in [0, 1], coloured and hill-shaded."""
    from matplotlib import colormaps
    from matplotlib.colors import LightSource
    z = elevation.astype(np.float64)
    rgb = LightSource(azdeg=315, altdeg=45).shade(
        z, cmap=colormaps[cmap], blend_mode='soft',
        vert_exag=0.05 * (z.shape[0] / max(np.ptp(z), 1e-6)))
    return rgb[..., :3].astype(np.float32)


def pictures() -> list:
    """The source pictures as float32 RGB arrays in [0, 1] (cached)."""
    global _PICTURES
    if _PICTURES is None:
        from matplotlib import cbook

        def sample(name):  # a file Matplotlib ships
            return str(cbook.get_sample_data(name, asfileobj=False))

        photos = [cv2.imread(sample(name))[..., ::-1].astype(np.float32) / 255
                  for name in ('grace_hopper.jpg',
                               'Minduka_Present_Blue_Pack.png')]
        terrain = [
            _hillshade(np.load(sample('topobathy.npz'))['topo'],
                       'gist_earth'),
            _hillshade(np.load(sample('jacksboro_fault_dem.npz'))
                       ['elevation'], 'terrain'),
        ]
        _PICTURES = photos + terrain
    return _PICTURES


def _view(picture, centre, half_width, angle_deg, size):
    """The ``size`` x ``size`` view of ``picture`` centred at ``centre``
    covering ``2 * half_width`` source pixels, rolled by ``angle_deg``."""
    scale = size / (2 * half_width)
    mat = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])),
                                  float(angle_deg), scale)
    mat[:, 2] += size / 2 - np.asarray(centre, dtype=np.float64)
    return cv2.warpAffine(picture, mat, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REFLECT)


def _base_sequence(pair, rng, num_frames, size):
    """The even class of ``pair``: float32 frames (T, size, size, 3)."""
    picture = pictures()[rng.integers(len(pictures()))]
    height, width = picture.shape[:2]
    half = rng.uniform(0.18, 0.3) * min(height, width)
    margin = 1.5 * half
    centre = np.array([rng.uniform(margin, width - margin),
                       rng.uniform(margin, height - margin)])
    angle0 = rng.uniform(0, 360)
    steps = np.arange(num_frames, dtype=np.float64)
    centres = np.repeat(centre[None], num_frames, 0)
    halves = np.full(num_frames, half)
    angles = np.full(num_frames, angle0)
    if pair == 0:  # clockwise roll (cv2's positive angle is anticlockwise)
        angles = angle0 - rng.uniform(3, 7) * steps
    elif pair == 1:  # zoom in, drifting
        halves = half * np.geomspace(1.0, rng.uniform(0.45, 0.6), num_frames)
        drift = rng.normal(size=2) * 0.01 * half
        centres = centres + drift[None] * steps[:, None]
    else:  # slow pan in a random direction
        heading = rng.uniform(0, 2 * np.pi)
        speed = rng.uniform(0.01, 0.025) * half
        centres = centres + speed * steps[:, None] * np.array(
            [np.cos(heading), np.sin(heading)])[None]
    frames = np.stack([_view(picture, c, h, a, size)
                       for c, h, a in zip(centres, halves, angles)])
    if pair == 2:
        frames = _add_events(frames, rng)
    gain = rng.uniform(0.8, 1.2, size=3).astype(np.float32)
    return frames * gain


def _add_events(frames, rng):
    """A patch lights up early and darkens late, >= MIN_EVENT_GAP apart."""
    num_frames, size = frames.shape[:2]
    lengths = rng.integers(2, 4, size=2)
    slack = num_frames - lengths.sum() - MIN_EVENT_GAP
    first = rng.integers(0, slack + 1)
    second = rng.integers(first + lengths[0] + MIN_EVENT_GAP,
                          num_frames - lengths[1] + 1)
    radius = rng.uniform(0.18, 0.26) * size
    cx, cy = rng.uniform(radius, size - radius, size=2)
    yy, xx = np.mgrid[:size, :size] + 0.5
    patch = np.clip(radius + 0.5 - np.hypot(xx - cx, yy - cy), 0, 1)
    patch = patch.astype(np.float32)[..., None]
    bright = np.array([1.7, 1.5, 1.2], dtype=np.float32)
    dark = np.array([0.35, 0.4, 0.55], dtype=np.float32)
    for start, length, tint in ((first, lengths[0], bright),
                                (second, lengths[1], dark)):
        span = slice(start, start + length)
        frames[span] = frames[span] * (1 - patch + patch * tint)
    return frames


def generate_clip(label, rng, num_frames=16, size=64):
    """uint8 (num_frames, size, size, 3) RGB frames of class ``label``; for
    the same generator state class ``2k + 1`` is class ``2k`` reversed."""
    if num_frames < 2 * 3 + MIN_EVENT_GAP:
        raise ValueError(f'the texture dataset needs >= {6 + MIN_EVENT_GAP} '
                         f'frames per video, got num_frames={num_frames}')
    rng = np.random.default_rng(rng)
    frames = _base_sequence(label // 2, rng, num_frames, size)
    noise = rng.normal(0, 0.02, size=frames.shape).astype(np.float32)
    clip = np.clip((frames + noise) * 255, 0, 255).round().astype(np.uint8)
    return clip[::-1].copy() if label % 2 else clip


def make_texture_order_dataset(root, num_frames=16, size=64,
                               train_per_class=40, val_per_class=10, seed=0,
                               fps=8, check=False):
    """Write the dataset to ``root``; returns the summary dict of
    :func:`.video_files.write_dataset`."""
    return write_dataset(root, CLASSES, generate_clip, num_frames=num_frames,
                         size=size, train_per_class=train_per_class,
                         val_per_class=val_per_class, seed=seed, fps=fps,
                         check=check)
