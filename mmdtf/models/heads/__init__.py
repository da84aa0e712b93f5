from .per_frame_head import CoarseFineFeatures, PerFrameMultiLabelHead
from .tcp_head import TCPHead

__all__ = ['CoarseFineFeatures', 'PerFrameMultiLabelHead', 'TCPHead']
