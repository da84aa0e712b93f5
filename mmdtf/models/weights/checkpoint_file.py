"""Reading a checkpoint file (a backbone's ``pretrained``, a converter's
input), with errors that name the file, what was expected and the config
key.

Offline use: every backbone takes a local file for ``pretrained``; the key
formats each one reads are listed in docs/user_guides/pretrained.md. The
helpers here are generic (any backbone or converter can use them):
:func:`read_pretrained` loads a file, :func:`unwrap_state_dict` takes the
tensors out of the usual wrappers.
"""
import importlib.util
import pickle
import re
from typing import Dict, List

import torch
from mmengine.logging import MMLogger
from mmengine.runner.checkpoint import _load_checkpoint

PRETRAINED_KEY = 'model.backbone.pretrained'
StateDict = Dict[str, torch.Tensor]


def torchvision_version_for(torch_version: str) -> str:
    """The torchvision release built for ``torch_version``: torch 2.x.y
    pairs with torchvision 0.(x + 15).y from torch 2.1 on (2.1.2 -> 0.16.2,
    2.5.1 -> 0.20.1; torch 2.0 broke the pattern, and is below our floor)."""
    match = re.match(r'2\.(\d+)\.(\d+)', torch_version)
    if match is None:
        raise ValueError(f'no known torchvision for torch {torch_version}')
    return f'0.{int(match.group(1)) + 15}.{match.group(2)}'


def missing_torchvision_message(filename: str) -> str:
    """What to do when ``torchvision://`` is asked for without torchvision."""
    try:
        version = torchvision_version_for(torch.__version__)
        pin = f'torchvision=={version}'
    except ValueError:
        pin = 'torchvision  # the release built for your torch'
    local = torch.__version__.partition('+')[2]
    index = (f' --index-url https://download.pytorch.org/whl/{local}'
             if local else '')
    name = filename[len('torchvision://'):]
    return (
        f'{PRETRAINED_KEY}={filename!r} needs torchvision, which is not '
        f'installed (it is optional). Either install the torchvision built '
        f'for your torch {torch.__version__} without replacing torch:\n'
        f'    pip install --no-deps {pin}{index}\n'
        '(or `pip install ".[torchvision]" torch==<your torch version>`), '
        'which downloads the ImageNet weights on first use; or, offline, '
        f'copy the {name} weights file (e.g. from ~/.cache/torch/hub/'
        f'checkpoints/ of a machine with internet) and set `{PRETRAINED_KEY}'
        "='/path/to/file.pth'`; torchvision, timm and MMPretrain formats "
        'are read (docs/user_guides/pretrained.md). Or set it to None for '
        'random weights.')


def read_pretrained(filename: str, expected: str) -> Dict:
    """``filename`` (path, URL or ``scheme://`` name) loaded on the CPU.

    Args:
        filename: the backbone's ``pretrained``.
        expected: what the file should hold, for the messages, e.g.
            ``'a 2D ResNet checkpoint in torchvision format'``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a file that is no checkpoint (truncated, foreign) or
            holds no dict.
    """

    def cannot_read(problem: str) -> str:
        return (f'{PRETRAINED_KEY}={filename!r}: {problem}. Expected '
                f'{expected}; set `{PRETRAINED_KEY}` to such a checkpoint, '
                'or to None to start from random weights.')

    if filename.startswith('torchvision://') and \
            importlib.util.find_spec('torchvision') is None:
        raise ModuleNotFoundError(missing_torchvision_message(filename))
    if filename.endswith('.safetensors'):
        raise ValueError(cannot_read(
            'safetensors files are not read; convert it once with '
            '`python -c "import torch, safetensors.torch as s; torch.save('
            f"s.load_file('{filename}'), '{filename[:-12]}.pth')\"` and set "
            'the .pth file'))
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


def unwrap_state_dict(checkpoint: Dict) -> StateDict:
    """The tensors of a checkpoint, without wrappers (``state_dict``,
    ``model``) or DDP's ``module.``."""
    state_dict = checkpoint
    for wrapper in ('state_dict', 'model'):
        inner = state_dict.get(wrapper) if isinstance(state_dict, dict) \
            else None
        if isinstance(inner, dict):
            state_dict = inner
    return {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()
            if isinstance(v, torch.Tensor)}


def log_loaded(model: str, count: int, filename: str, key_format: str,
               not_used: List[str], logger: MMLogger) -> None:
    """The one line a backbone logs after reading its ``pretrained``: how
    many tensors it took, from which file in which key format, and the
    file's tensors it did not use."""
    logger.info(f'{model}: loaded {count} tensors from {filename} '
                f'({key_format} format); not used: {not_used}')


def some_keys(keys: List[str], limit: int = 8) -> str:
    """The first ``limit`` keys for a message, with how many more there are
    (``'none'`` for no key)."""
    shown = ', '.join(f'`{k}`' for k in keys[:limit]) or 'none'
    return shown + (f' and {len(keys) - limit} more'
                    if len(keys) > limit else '')
