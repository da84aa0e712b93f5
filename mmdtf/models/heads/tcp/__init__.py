from .channel_attention import TemporalChannelAttention
from .covariance import (CovariancePool, NewtonSchulzSqrt, covariance_pool,
                         isqrt, upper_triangle)
from .self_attention import TemporalSelfAttention
from .temporal_attention import TemporalAttention, circular_padding

__all__ = ['CovariancePool', 'NewtonSchulzSqrt', 'covariance_pool', 'isqrt', 'upper_triangle', 'circular_padding',
           'TemporalAttention', 'TemporalChannelAttention',
           'TemporalSelfAttention']
