from .dtf_block import FILTER_TYPES, DTFBlock
from .spectral_channel_mixing import SpectralChannelMixing
from .spectral_filters import (DynamicSpectralFilter, StaticSpectralFilter,
                               set_spectral_impl)
from .temporal_conv_filters import (DynamicTemporalConvFilter,
                                    TemporalConvFilter)

__all__ = ['DTFBlock', 'FILTER_TYPES', 'DynamicSpectralFilter',
           'StaticSpectralFilter', 'SpectralChannelMixing',
           'TemporalConvFilter', 'DynamicTemporalConvFilter',
           'set_spectral_impl']

# Coarse-Fine Networks' blocks
from .grid_pool import (GridPool, GridUnpool,  # noqa: E402
                        confidences_to_grid, grid_unpool, sample_frames)
from .multi_stage_fusion import (FineFeatureReweighting,  # noqa: E402
                                 GaussianAlignment, MultiStageFusion)

__all__ += ['FineFeatureReweighting', 'GaussianAlignment', 'GridPool',
            'GridUnpool', 'MultiStageFusion', 'confidences_to_grid',
            'grid_unpool', 'sample_frames']
