"""Export MMAction2 recognizers, DTF models included, to ONNX.

``torch.onnx`` cannot export the FA op (a registered custom operator), nor
``torch.fft`` (``aten::fft_rfft`` has no ONNX symbolic), which DTF blocks run
when a config sets ``dtf_cfg.spectral_impl='fft'``. For export, the spectral
filters are switched to ``spectral_impl='matmul'`` (the default: the same
orthonormal DFT as a product with cached matrices, see
``spectral_transforms.py``), and ``frame_aggregation`` runs its
standard-operator forward by itself under ``torch.onnx.is_in_onnx_export()``.

The exported graph maps a normalised clip batch (after the data
preprocessor: mean/std, ``format_shape``) to class scores before softmax,
as MMAction2's own ONNX export scripts do.
"""
import warnings
from typing import Dict, Optional

import numpy as np
import torch
from torch import nn

from mmdtf.models.blocks.spectral_filters import set_spectral_impl

INPUT_NAME = 'input'
OUTPUT_NAME = 'cls_score'


class GlobalAvgPool(nn.Module):
    """``AdaptiveAvgPool{2,3}d(1)`` as a mean: one ``ReduceMean`` in ONNX."""

    def __init__(self, dims: int) -> None:
        super().__init__()
        self.dims = tuple(range(-dims, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=self.dims, keepdim=True)


def _is_global_pool(module: nn.Module) -> bool:
    if not isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)):
        return False
    size = module.output_size
    return all(s == 1 for s in (size if isinstance(size, tuple) else (size, )))


class RecognizerForExport(nn.Module):
    """Backbone (+ neck) + head of a recognizer: ``(N, C, T, H, W)`` (or the
    ``(N * segments, C, H, W)`` frames of a 2D recognizer) to class scores.

    Global average pools of the head become means (portable to every ONNX
    runtime), and the spectral filters use ``spectral_impl='matmul'``.

    Args:
        recognizer: an MMAction2 recognizer with ``backbone`` and
            ``cls_head`` (``Recognizer3D`` or ``Recognizer2D``).
        num_segments: frames per clip of a 2D recognizer (its head averages
            them); ignored by 3D recognizers.
    """

    def __init__(self, recognizer: nn.Module,
                 num_segments: Optional[int] = None) -> None:
        super().__init__()
        for attr in ('backbone', 'cls_head'):
            if getattr(recognizer, attr, None) is None:
                raise TypeError(
                    f'Cannot export {type(recognizer).__name__}: it has no '
                    f'`{attr}` (`model.{attr}` in the config).')
        self.backbone = recognizer.backbone
        self.neck = getattr(recognizer, 'neck', None)
        self.cls_head = recognizer.cls_head
        self.num_segments = num_segments
        for name, module in list(self.cls_head.named_children()):
            if _is_global_pool(module):
                dims = 3 if isinstance(module, nn.AdaptiveAvgPool3d) else 2
                setattr(self.cls_head, name, GlobalAvgPool(dims))
        set_spectral_impl(self, 'matmul')

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        feats = self.backbone(inputs)
        if self.neck is not None:
            feats, _ = self.neck(feats)
        if inputs.dim() == 4 and self.num_segments is not None:
            return self.cls_head(feats, num_segs=self.num_segments)
        return self.cls_head(feats)


def export_onnx(model: nn.Module,
                inputs: torch.Tensor,
                output_file: str,
                opset_version: Optional[int] = None,
                dynamo: bool = False,
                dynamic_batch: bool = True) -> None:
    """Export ``model`` (e.g. a :class:`RecognizerForExport`) run on
    ``inputs`` to ``output_file``.

    Args:
        opset_version: the ONNX opset; default 17 (TorchScript exporter) or
            18 (dynamo exporter, which writes 18 and cannot convert its
            ``Pad`` to older opsets).
        dynamo: use ``torch.onnx``'s ``torch.export``-based exporter (needs
            onnxscript; slower to export, a smaller graph) instead of the
            TorchScript-based one.
        dynamic_batch: make the batch axis dynamic (DTF blocks are built for
            one clip length; the other axes stay fixed).
    """
    model.eval()
    if opset_version is None:
        opset_version = 18 if dynamo else 17
    kwargs = dict(input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                  opset_version=opset_version)
    if dynamo:
        if dynamic_batch:
            kwargs['dynamic_shapes'] = ({0: torch.export.Dim('batch')}, )
        kwargs.update(dynamo=True, external_data=False, verbose=False)
    else:
        if dynamic_batch:
            kwargs['dynamic_axes'] = {INPUT_NAME: {0: 'batch'},
                                      OUTPUT_NAME: {0: 'batch'}}
        kwargs.update(dynamo=False, do_constant_folding=True)
    with torch.no_grad(), warnings.catch_warnings():
        # Shape checks and Python ints become constants: intended, the
        # graph is for the traced shape (batch aside).
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(model, (inputs, ), output_file, **kwargs)


def check_onnx(output_file: str, model: nn.Module,
               inputs: torch.Tensor) -> Dict[str, float]:
    """Run the ONNX file with onnxruntime (CPU) and PyTorch on ``inputs``.

    Returns:
        dict: ``max_abs_diff`` between the two outputs and ``max_abs_ref``,
        the largest PyTorch output (for scale).
    """
    import onnx
    import onnxruntime

    onnx.checker.check_model(onnx.load(output_file))
    session = onnxruntime.InferenceSession(
        output_file, providers=['CPUExecutionProvider'])
    (onnx_out, ) = session.run([OUTPUT_NAME],
                               {INPUT_NAME: inputs.cpu().numpy()})
    model.eval()
    with torch.no_grad():
        torch_out = model(inputs).cpu().numpy()
    if onnx_out.shape != torch_out.shape:
        raise RuntimeError(f'ONNX output shape {onnx_out.shape} differs from '
                           f'the PyTorch one {torch_out.shape}.')
    return {
        'max_abs_diff': float(np.abs(onnx_out - torch_out).max()),
        'max_abs_ref': float(np.abs(torch_out).max()),
    }


def onnx_operator_counts(output_file: str) -> Dict[str, int]:
    """How many nodes of each ONNX operator type the file holds."""
    import onnx

    counts: Dict[str, int] = {}
    for node in onnx.load(output_file).graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
    return counts


def onnx_opset(output_file: str) -> int:
    """The default-domain opset the file was written for."""
    import onnx

    for opset in onnx.load(output_file).opset_import:
        if opset.domain in ('', 'ai.onnx'):
            return opset.version
    raise ValueError(f'{output_file} imports no default-domain ONNX opset.')


__all__ = ['RecognizerForExport', 'GlobalAvgPool', 'export_onnx',
           'check_onnx', 'onnx_operator_counts', 'onnx_opset', 'INPUT_NAME',
           'OUTPUT_NAME']
