"""The embedded demo's dataset: synthetic shapes whose classes differ ONLY in
temporal order (8 classes; ``tools/data/make_demo_dataset.py`` writes it to
``data/demo`` in the layout of :mod:`.video_files`).

Classes come in time-reversed pairs ``(0, 1), (2, 3), (4, 5), (6, 7)``: the
odd class of a pair is produced by generating the even class's frame sequence
and reversing it.  Per-video nuisance (background colour, static texture,
per-frame sensor noise, object colour / size / shape / start position, speed)
is drawn from a generator keyed by ``(seed, split, pair, index)``, so video
``i`` of class ``2k + 1`` is exactly the time reversal of video ``i`` of class
``2k`` (before lossy mp4 encoding).  Consequently the multiset of frames of a
video carries no information about which class of its pair it belongs to: a
model that pools per-frame features without temporal modelling is at chance
*within* a pair (it can still tell the pairs apart, i.e. it is capped at 50%
accuracy over the 8 classes, 12.5% being chance).

Translations wrap around the frame (toroidal motion) and start at a uniformly
random position, so the object position in any single frame is uniformly
distributed for every translation class and every time step.

The two "long-range order" classes show a brief flash of a square (A) and of a
circle (B) at the same place, separated by at least :data:`MIN_EVENT_GAP`
frames (frame-index distance between the last frame of the first event and
the first frame of the second one), so the two events always fall into
different, non-adjacent 4-frame tubelets.  All other frames only show the
noisy background.
"""
import colorsys

import numpy as np

from .video_files import write_dataset

CLASSES = (
    'moving_right',        # 0
    'moving_left',         # 1  = reverse of 0
    'moving_down',         # 2
    'moving_up',           # 3  = reverse of 2
    'approaching',         # 4  (growing)
    'receding',            # 5  = reverse of 4 (shrinking)
    'square_then_circle',  # 6  A early, B late
    'circle_then_square',  # 7  = reverse of 6
)

#: min. frame-index distance between the two events of classes 6 / 7
MIN_EVENT_GAP = 8
#: max. number of frames an event (flash) lasts
MAX_EVENT_LEN = 3


def _soft_mask(shape, cx, cy, half, size, wrap=False):
    """Anti-aliased mask (float32 in [0, 1], ``size x size``) of a filled
    square (``shape == 'square'``, half side ``half``) or disk (radius
    ``half``) centred at ``(cx, cy)`` in pixel units.  With ``wrap`` the
    distance is measured on the torus (object wraps around the borders)."""
    coords = np.arange(size, dtype=np.float32) + 0.5
    dx = coords - np.float32(cx)
    dy = coords - np.float32(cy)
    if wrap:
        dx = (dx + size / 2.0) % size - size / 2.0
        dy = (dy + size / 2.0) % size - size / 2.0
    dx = np.abs(dx)[None, :]
    dy = np.abs(dy)[:, None]
    if shape == 'square':
        ax = np.clip(half + 0.5 - dx, 0.0, 1.0)
        ay = np.clip(half + 0.5 - dy, 0.0, 1.0)
        return (ay * ax).astype(np.float32)
    if shape == 'circle':
        dist = np.sqrt(dx * dx + dy * dy)
        return np.clip(half + 0.5 - dist, 0.0, 1.0).astype(np.float32)
    raise ValueError(f'unknown shape {shape!r}')


def _event_length(num_frames):
    length = min(MAX_EVENT_LEN, (num_frames - MIN_EVENT_GAP + 1) // 2)
    if length < 1:
        raise ValueError(
            f'num_frames must be >= {MIN_EVENT_GAP + 1} so that two events '
            f'{MIN_EVENT_GAP} frames apart fit, got {num_frames}')
    return length


def _base_sequence(pair, rng, num_frames, size):
    """Frames (T, H, W, 3) float32 RGB + meta of the even class ``2*pair``."""
    T, S = num_frames, size
    # ---- nuisance shared by all pairs -------------------------------------
    bg_colour = rng.uniform(25.0, 110.0, size=3).astype(np.float32)
    coarse = max(2, S // 8)
    texture = rng.normal(0.0, 1.0, size=(coarse, coarse, 3))
    # bilinear upsampling of the coarse texture (smooth static background)
    idx = np.linspace(0, coarse - 1, S)
    i0 = np.floor(idx).astype(int)
    i1 = np.minimum(i0 + 1, coarse - 1)
    w = (idx - i0)[:, None]
    rows = texture[i0] * (1 - w)[..., None] + texture[i1] * w[..., None]
    texture = rows[:, i0] * (1 - w)[None] + rows[:, i1] * w[None]
    background = bg_colour + 12.0 * texture.astype(np.float32)
    hue = rng.uniform(0.0, 1.0)
    sat = rng.uniform(0.5, 1.0)
    val = rng.uniform(0.85, 1.0)
    obj_colour = 255.0 * np.array(colorsys.hsv_to_rgb(hue, sat, val),
                                  dtype=np.float32)
    obj_size = S * rng.uniform(0.19, 0.25)  # ~12-16 px at 64 px
    shape = 'square' if rng.uniform() < 0.5 else 'circle'

    masks = np.zeros((T, S, S), dtype=np.float32)
    meta = dict(pair=pair, shape=shape, obj_size=float(obj_size))
    if pair in (0, 1):  # a bar sweeping right (0) / down (1), wrapping
        # A bar across the whole frame makes motion the dominant signal (a
        # small blob leaves too little to learn from in a CPU demo); its
        # position is uniform at every time step, so a frame shows the axis
        # of the pair but never the direction.
        speed = S * rng.uniform(2.0, 3.0) / 64.0  # 2-3 px / frame at 64 px
        start = rng.uniform(0.0, S)
        width = obj_size * 0.75
        coords = np.arange(S, dtype=np.float32) + 0.5
        for t in range(T):
            offset = (coords - (start + speed * t) + S / 2.0) % S - S / 2.0
            profile = np.clip(width / 2.0 + 0.5 - np.abs(offset), 0.0, 1.0)
            masks[t] = (profile[None, :] if pair == 0 else profile[:, None])
        meta.update(speed=float(speed), start=float(start), width=width)
    elif pair == 2:  # approaching = growing
        s_min = S * rng.uniform(0.08, 0.12)
        s_max = S * rng.uniform(0.38, 0.45)
        cx, cy = rng.uniform(s_max / 2, S - s_max / 2, size=2)
        sizes = np.linspace(s_min, s_max, T)
        for t in range(T):
            masks[t] = _soft_mask(shape, cx, cy, sizes[t] / 2, S)
        meta.update(sizes=sizes.tolist(), centre=(float(cx), float(cy)))
    elif pair == 3:  # square (A) flash early, circle (B) flash late
        length = _event_length(T)
        slack = T - 2 * length - MIN_EVENT_GAP + 1
        # (j1, j2) uniform over {j1, j2 >= 0, j1 + j2 <= slack}: symmetric
        # under time reversal (j1 <-> j2)
        choices = [(a, b) for a in range(slack + 1)
                   for b in range(slack + 1 - a)]
        j1, j2 = choices[rng.integers(len(choices))]
        a_start = j1
        b_start = T - length - j2
        # Both flashes large and at one place: which came first is then a
        # question about time at each position (what a DTF block answers),
        # not a search across the frame.
        ev_size = S * rng.uniform(0.4, 0.5)
        cx, cy = rng.uniform(ev_size / 2, S - ev_size / 2, size=2)
        events = []
        for ev_shape, start in (('square', a_start), ('circle', b_start)):
            mask = _soft_mask(ev_shape, cx, cy, ev_size / 2, S)
            masks[start:start + length] = mask
            events.append((ev_shape, start, start + length - 1))
        meta.update(events=events, centre=(float(cx), float(cy)),
                    event_size=float(ev_size))
        meta['shape'] = None
    else:
        raise ValueError(f'pair must be in 0..3, got {pair}')

    # per-frame sensor noise ("static"), same distribution for every frame
    noise = rng.normal(0.0, 3.0, size=(T, S, S, 3)).astype(np.float32)
    alpha = masks[..., None]
    frames = background[None] * (1.0 - alpha) + obj_colour * alpha + noise
    return frames, meta


def generate_clip(label, rng, num_frames=16, size=64, return_meta=False):
    """Generate the frames of one video of class ``label``.

    Args:
        label (int): class index in ``range(len(CLASSES))``.
        rng (np.random.Generator | int): random generator (or seed) for the
            nuisance parameters.  For the same generator state, the clip of
            class ``2k + 1`` is exactly the clip of class ``2k`` reversed in
            time.
        num_frames (int): number of frames (>= 9).
        size (int): frame height and width in pixels.
        return_meta (bool): also return a dict of the drawn parameters (for
            classes 6 / 7 ``meta['events']`` lists ``(shape, first, last)``
            frame indices in the returned clip's time order).

    Returns:
        np.ndarray: uint8 array of shape ``(num_frames, size, size, 3)``, RGB.
    """
    if not 0 <= label < len(CLASSES):
        raise ValueError(f'label must be in 0..{len(CLASSES) - 1}, '
                         f'got {label}')
    _event_length(num_frames)  # validate num_frames for every class
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    frames, meta = _base_sequence(label // 2, rng, num_frames, size)
    clip = np.clip(np.rint(frames), 0, 255).astype(np.uint8)
    if label % 2 == 1:
        clip = np.ascontiguousarray(clip[::-1])
        if 'events' in meta:
            meta['events'] = sorted(
                (s, num_frames - 1 - last, num_frames - 1 - first)
                for s, first, last in meta['events'])
        if 'sizes' in meta:
            meta['sizes'] = meta['sizes'][::-1]
    meta['label'] = label
    return (clip, meta) if return_meta else clip


def make_demo_dataset(root,
                      num_frames=16,
                      size=64,
                      train_per_class=40,
                      val_per_class=10,
                      seed=0,
                      fps=8,
                      check=False):
    """Write the synthetic dataset to ``root`` and return a summary dict.

    See the module docstring for the classes, :mod:`.video_files` for the
    layout.  With ``check=True`` every written video is read back with
    decord and verified to have ``num_frames`` frames of ``size x size``
    pixels.
    """
    _event_length(num_frames)
    return write_dataset(root, CLASSES, generate_clip, num_frames=num_frames,
                         size=size, train_per_class=train_per_class,
                         val_per_class=val_per_class, seed=seed, fps=fps,
                         check=check)
