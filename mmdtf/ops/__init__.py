from .frame_aggregation import (BACKENDS, FrameAggregation, check_backend,
                                check_frame_aggregation_input,
                                frame_aggregation)

__all__ = ['frame_aggregation', 'FrameAggregation', 'check_backend',
           'check_frame_aggregation_input', 'BACKENDS']
