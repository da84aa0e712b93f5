"""What datasets, models and evaluation share, beneath all three (as
MMAction2's ``mmaction.structures``): per-frame activity targets and the
fine-feature file of Coarse-Fine Networks."""
from .fine_features import FINE_LEVELS, read_fine_features, write_fine_features
from .frame_targets import frame_targets

__all__ = ['FINE_LEVELS', 'frame_targets', 'read_fine_features',
           'write_fine_features']
