"""ONNX export: FA's standard-operator forward against the registered op,
and a small DTF-Net exported, run with onnxruntime and compared to PyTorch."""
import onnx
import onnxruntime
import pytest
import torch
from mmengine.config import Config

from mmdtf.models import DTFBlock
from mmdtf.ops import FrameAggregation
from mmdtf.ops.frame_aggregation import (frame_aggregation_export,
                                         frame_aggregation_torch)

import helpers

# The shape of the exported graph: 2 clips of 16 frames at 32 px (T = 4 in
# the DTF blocks of res4, 2 x 2, and res5, 1 x 1).
SHAPE = (2, 3, 16, 32, 32)


@pytest.mark.parametrize('kernel_size', [1, 3, 5])
@pytest.mark.parametrize('shape', [(2, 5, 4, 7, 6), (1, 3, 1, 4, 4),
                                   (1, 8, 2, 1, 1)])
def test_export_formulation_equals_registered_op(kernel_size, shape):
    torch.manual_seed(0)
    x = torch.randn(*shape, dtype=torch.float64)
    y, corr = frame_aggregation_torch(x, kernel_size)
    y_export, corr_export = frame_aggregation_export(x, kernel_size)
    torch.testing.assert_close(y_export, y, rtol=0, atol=1e-12)
    torch.testing.assert_close(corr_export, corr, rtol=0, atol=0)


def test_export_formulation_half_precision():
    """float16 in, float32 accumulation, float16 out, as the registered op."""
    torch.manual_seed(0)
    x = torch.randn(1, 16, 3, 5, 5).half()
    y, corr = frame_aggregation_torch(x, 3)
    y_export, corr_export = frame_aggregation_export(x, 3)
    assert y_export.dtype == corr_export.dtype == torch.float16
    torch.testing.assert_close(y_export, y, rtol=0, atol=2e-3)
    torch.testing.assert_close(corr_export, corr, rtol=0, atol=0)


def test_fa_exports_through_standard_operators(tmp_path):
    """Under export, frame_aggregation needs no custom op."""
    torch.manual_seed(0)
    x = torch.randn(1, 8, 4, 5, 6)
    path = str(tmp_path / 'fa.onnx')
    with torch.no_grad():
        torch.onnx.export(FrameAggregation(3, backend='torch'), (x, ), path,
                          input_names=['x'], output_names=['y', 'corr'],
                          opset_version=17, dynamo=False)
    ops = {node.op_type for node in onnx.load(path).graph.node}
    assert 'Softmax' in ops and 'Pad' in ops
    assert not any(node.domain not in ('', 'ai.onnx')
                   for node in onnx.load(path).graph.node)
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    y, corr = session.run(None, {'x': x.numpy()})
    y_ref, corr_ref = frame_aggregation_torch(x, 3)
    assert abs(y - y_ref.numpy()).max() < 1e-5
    assert abs(corr - corr_ref.numpy()).max() < 1e-5


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    config = tmp_path_factory.mktemp('cfg') / 'dtf_r18_demo.py'
    return helpers.write_pinned_demo_config(config)


@pytest.fixture(scope='module')
def demo_checkpoint(demo, tmp_path_factory):
    """The demo DTF-Net with DTF blocks away from the identity and batch
    norms calibrated on random clips, so the outputs are O(1) and every DTF
    operator matters to them."""
    from mmaction.registry import MODELS
    torch.manual_seed(0)
    cfg = Config.fromfile(str(demo))
    model = MODELS.build(cfg.model)
    model.init_weights()
    for module in model.modules():
        if isinstance(module, DTFBlock):
            torch.nn.init.normal_(module.gamma, std=1.)
            torch.nn.init.normal_(module.beta, std=0.1)
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model.backbone(torch.randn(*SHAPE))
    path = tmp_path_factory.mktemp('ckpt') / 'dtf_r18_demo.pth'
    torch.save({'state_dict': model.state_dict()}, path)
    return path


def test_export_demo_dtf_net_matches_pytorch(demo, demo_checkpoint,
                                             tmp_path, capsys):
    tool = helpers.load_tool('deployment/export_onnx')
    output = tmp_path / 'dtf_r18.onnx'
    result = tool.main([str(demo), str(demo_checkpoint), '--shape',
                        *map(str, SHAPE), '--output', str(output), '--check'])
    out = capsys.readouterr().out
    assert f'Exported Recognizer3D to {output} (opset 17' in out
    assert 'onnxruntime vs PyTorch: max abs diff' in out
    assert result['max_abs_diff'] < 1e-4
    assert result['max_abs_ref'] > 0.1  # a real comparison, not of zeros
    # Per block (4 blocks): the DFT as MatMul (1 forward for both parts + 2
    # inverse), the eval-mode channel mixing as four (A x and B y for the
    # real parts, B x and A y for the imaginary parts that irfft reads), FA's
    # softmax once; and no custom op.
    ops = result['operators']
    assert ops['MatMul'] == 4 * (3 + 4) and ops['Softmax'] == 4
    model = onnx.load(str(output))
    assert all(node.domain in ('', 'ai.onnx') for node in model.graph.node)

    # The exported graph computes what the recognizer does with torch.fft
    # and the autograd FA, and the batch axis is dynamic.
    from mmaction.registry import MODELS

    from mmdtf.models.blocks import set_spectral_impl
    cfg = Config.fromfile(str(demo))
    recognizer = MODELS.build(cfg.model)
    recognizer.load_state_dict(torch.load(demo_checkpoint)['state_dict'])
    assert set_spectral_impl(recognizer, 'fft') == 4
    recognizer.eval()
    torch.manual_seed(1)
    clips = torch.randn(3, *SHAPE[1:])
    with torch.no_grad():
        feats = recognizer.backbone(clips)
        expected = recognizer.cls_head(feats).numpy()
    session = onnxruntime.InferenceSession(
        str(output), providers=['CPUExecutionProvider'])
    (got, ) = session.run(['cls_score'], {'input': clips.numpy()})
    assert got.shape == (3, 8)
    assert abs(got - expected).max() < 1e-4


def test_dtf_block_with_dynamo_exporter(tmp_path):
    """torch.onnx's torch.export-based exporter (``--dynamo``) on one block:
    the DFT matrices made under its fake tensors must not be cached."""
    import onnxscript  # noqa: F401  (the dynamo exporter needs it)
    from mmdtf.models.blocks import set_spectral_impl
    from mmdtf.models.blocks.spectral_transforms import _DFT_CACHE
    from mmdtf.deployment.onnx_export import (check_onnx, export_onnx,
                                              onnx_opset)
    torch.manual_seed(0)
    block = DTFBlock(32, 6)
    with torch.no_grad():
        block.gamma.normal_()
    set_spectral_impl(block, 'matmul')
    block.eval()
    _DFT_CACHE.clear()
    x = torch.randn(2, 32, 6, 3, 4)
    path = str(tmp_path / 'block.onnx')
    export_onnx(block, x, path, dynamo=True)
    assert all(type(mat) is torch.Tensor
               for mats in _DFT_CACHE.values() for mat in mats)
    assert onnx_opset(path) == 18
    result = check_onnx(path, block, x)
    assert result['max_abs_diff'] < 1e-4 and result['max_abs_ref'] > 1


def test_export_tool_errors_name_the_value(demo):
    tool = helpers.load_tool('deployment/export_onnx')
    cfg = Config.fromfile(str(demo))
    assert tool.input_shape_from(cfg, None) == (1, 3, 16, 224, 224)
    with pytest.raises(ValueError, match=r'N C T H W.*got \[3, 16, 32\]'):
        tool.input_shape_from(cfg, [3, 16, 32])
