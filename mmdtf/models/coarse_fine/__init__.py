from .fusion import FineFeatureReweighting, GaussianAlignment, MultiStageFusion
from .grid_pool import (GridPool, GridUnpool, confidences_to_grid,
                        grid_unpool, sample_frames)
from .recognizer import CoarseFineRecognizer
from .x3d_coarse_fine import X3DCoarseFine

__all__ = ['CoarseFineRecognizer', 'FineFeatureReweighting',
           'GaussianAlignment', 'GridPool', 'GridUnpool', 'MultiStageFusion',
           'X3DCoarseFine', 'confidences_to_grid', 'grid_unpool',
           'sample_frames']
