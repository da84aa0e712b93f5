"""Per-frame multi-label targets from activity intervals (Charades)."""
import numpy as np


def frame_targets(actions, times, num_classes: int) -> np.ndarray:
    """(num_classes, len(times)) 0/1 targets: class c is on at time t when
    ``start <= t <= end`` for one of its actions (the Charades rule)."""
    labels = np.zeros((num_classes, len(times)), np.float32)
    for label, start, end in actions:
        labels[label, (times >= start) & (times <= end)] = 1
    return labels
