"""Reading the 2D checkpoint a backbone is initialised from, with errors
that name the file, what was expected and the config key."""
import pickle
from typing import Dict

from mmengine.runner.checkpoint import _load_checkpoint

PRETRAINED_KEY = 'model.backbone.pretrained'


def read_pretrained(filename: str, expected: str) -> Dict:
    """``filename`` (path, URL or ``scheme://`` name) loaded on the CPU.

    Args:
        filename: the backbone's ``pretrained``.
        expected: what the file should hold, for the messages, e.g.
            ``'a 2D ResNet checkpoint in torchvision layout'``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that is no checkpoint (truncated, foreign) or
            holds no dict.
    """

    def cannot_read(problem: str) -> str:
        return (f'{PRETRAINED_KEY}={filename!r}: {problem}. Expected '
                f'{expected}; set `{PRETRAINED_KEY}` to such a checkpoint, '
                'or to None to start from random weights.')

    try:
        checkpoint = _load_checkpoint(filename, map_location='cpu')
    except FileNotFoundError as err:
        raise FileNotFoundError(cannot_read('no such file')) from err
    except (pickle.UnpicklingError, EOFError, RuntimeError) as err:
        # Only the first line: for a foreign file torch's message goes on
        # to suggest weights_only=False, which would not help (and is unsafe).
        first_line = (str(err).strip().splitlines() or [''])[0]
        raise ValueError(cannot_read(
            'cannot be loaded as a PyTorch checkpoint '
            f'({type(err).__name__}: {first_line})')) from err
    if not isinstance(checkpoint, dict):
        raise ValueError(cannot_read(
            f'holds a {type(checkpoint).__name__}, not a state dict'))
    return checkpoint
