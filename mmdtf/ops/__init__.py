from .frame_aggregation import (BACKENDS, FrameAggregation, check_backend,
                                check_frame_aggregation_input,
                                frame_aggregation)
from .tin_shift import tin_shift

__all__ = ['frame_aggregation', 'FrameAggregation', 'check_backend',
           'check_frame_aggregation_input', 'BACKENDS', 'tin_shift']
