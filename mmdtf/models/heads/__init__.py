from .tcp_head import TCPHead

__all__ = ['TCPHead']
