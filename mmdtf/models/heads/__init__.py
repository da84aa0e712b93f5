from .per_frame_head import PerFrameMultiLabelHead
from .tcp_head import TCPHead

__all__ = ['PerFrameMultiLabelHead', 'TCPHead']
