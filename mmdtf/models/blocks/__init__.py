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
