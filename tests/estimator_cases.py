"""The filter estimator's inputs, shared by its tests
(tests/models/blocks/test_filter_estimation.py, test_estimate_and_modulate.py;
``import estimator_cases``: conftest.py puts tests/ on ``sys.path``)."""
import itertools

import torch

N, C, K2, T, H, W = 2, 6, 9, 4, 3, 5
# every combination of the block's options the estimator sees: (rms,
# correlation, bias)
OPTIONS = list(itertools.product([True, False], repeat=3))
OPTION_IDS = ['-'.join(name for name, on in zip(('rms', 'corr', 'bias'), o)
                       if on) or 'plain' for o in OPTIONS]
# y's memory order in each layout, as dims of (N, C, T, H, W)
ESTIMATOR_LAYOUTS = {'frames': (0, 2, 1, 3, 4), 'contiguous': (0, 1, 2, 3, 4),
                     'channels_last': (0, 2, 3, 4, 1)}


def estimator_inputs(out, rms=True, with_corr=True, with_bias=True,
                     layout='frames', dtype=torch.float64, seed=0,
                     grad=False):
    """``y`` (N, C, T, H, W) stored in ``layout``'s order (ResNetDTF's
    frames, or SwinDTF's tokens), the FA correlation, the weight of an
    estimator of ``out`` channels and its bias, and ``rms``."""
    gen = torch.Generator().manual_seed(seed)
    order = ESTIMATOR_LAYOUTS[layout]
    y = torch.randn([(N, C, T, H, W)[d] for d in order], generator=gen)
    y = y.permute(*sorted(range(5), key=order.__getitem__))
    corr = torch.randn(N, K2, T, H, W, generator=gen) if with_corr else None
    columns = (C + (K2 if with_corr else 0)) * T
    weight = torch.randn(out, columns, 1, 1, generator=gen) / columns**0.5
    bias = torch.randn(out, generator=gen) if with_bias else None
    tensors = [t if t is None else t.to(dtype).requires_grad_(grad)
               for t in (y, corr, weight, bias)]
    return (*tensors, rms)



def gradcheck_given(op, args) -> bool:
    """``torch.autograd.gradcheck`` of ``op(*args)`` with respect to the
    tensors of ``args[:4]`` (y, corr, weight, bias) that are given."""
    given = [i for i in range(4) if args[i] is not None]

    def fn(*tensors):
        full = list(args)
        for i, t in zip(given, tensors):
            full[i] = t
        return op(*full)

    return torch.autograd.gradcheck(fn, [args[i] for i in given])
