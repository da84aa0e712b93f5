from .coarse_fine_recognizer import CoarseFineRecognizer

__all__ = ['CoarseFineRecognizer']
