<<<<<<< HEAD
from .per_frame_head import PerFrameMultiLabelHead

__all__ = ['PerFrameMultiLabelHead']
=======
from .tcp_head import TCPHead

__all__ = ['TCPHead']
>>>>>>> tcp
