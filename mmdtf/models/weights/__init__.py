"""Loading weights trained elsewhere into mmdtf's models."""
from .dtf_authors import (AuthorsCheckpointError, convert_dtf_authors,
                          convert_dtf_block)

__all__ = ['convert_dtf_authors', 'convert_dtf_block',
           'AuthorsCheckpointError']
