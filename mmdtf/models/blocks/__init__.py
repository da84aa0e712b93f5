from .dtf_block import FILTER_TYPES, DTFBlock

__all__ = ['DTFBlock', 'FILTER_TYPES']
