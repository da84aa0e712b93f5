"""The DTF backbones under torch.compile: no graph break in eval or
training mode (torch._dynamo.explain), every FA call, every spectral
modulation and every filter estimator one node of the graph,
and the compiled backbone (aot_eager: dynamo and AOT autograd, what inductor
builds on, without C++ compilation) gives eager mode's features and
gradients. Inductor itself runs in tests/engine/test_compiled_training.py
and in tools/analysis_tools/benchmark_models.py --compile
(docs/user_guides/compile.md)."""
import pytest
import torch

from mmdtf.models import DTFBlock, ResNetDTF, SwinDTF

ARCH = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8])


def acting(model):
    """Random gamma / beta: every DTF block changes its input."""
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for block in model.modules():
            if isinstance(block, DTFBlock):
                block.gamma.copy_(torch.randn(block.gamma.shape,
                                              generator=gen))
                block.beta.copy_(torch.randn(block.beta.shape,
                                             generator=gen) * 0.1)
    return model


def resnet_dtf(**dtf_cfg):
    torch.manual_seed(0)
    model = ResNetDTF(depth=18, clip_len=8, temporal_stride=4,
                      pretrained=None, dtf_cfg=dtf_cfg or None)
    model.init_weights()
    return acting(model), torch.randn(2, 3, 8, 32, 32)


def swin_dtf():
    torch.manual_seed(0)
    model = SwinDTF(arch=ARCH, clip_len=8, temporal_stride=4, img_size=224,
                    dtf_cfg=dict(group_factor=8), drop_path_rate=0.)
    model.init_weights()
    return acting(model), torch.randn(1, 3, 8, 64, 64)


def nodes(explained, target: str) -> int:
    return sum(str(node.target) == target
               for graph in explained.graphs for node in graph.graph.nodes)


@pytest.mark.parametrize('build', [resnet_dtf, swin_dtf])
@pytest.mark.parametrize('training', [False, True])
def test_no_graph_break(build, training):
    model, x = build()
    model.train(training)
    blocks = sum(isinstance(m, DTFBlock) for m in model.modules())
    with torch.set_grad_enabled(training):
        explained = torch._dynamo.explain(model)(x)
    assert explained.graph_break_count == 0, explained.break_reasons
    assert explained.graph_count == 1
    assert blocks > 0
    # without gradients FA runs inside the block-tail node
    assert nodes(explained, 'mmdtf.frame_aggregation.default') == (
        blocks if training else 0)
    # each block's filter estimator (the split 1x1 convolution, the rms
    # scaling) and its spectral modulation with the filter (the DFT products
    # and the complex product): one node, which inductor does not generate
    # kernels for; without gradients, with the residual too
    # (mmdtf/models/blocks/fused_tail.py)
    assert nodes(explained, 'mmdtf.estimate_and_modulate.default') == (
        blocks if training else 0)
    assert nodes(explained, 'mmdtf.block_tail.default') == (
        0 if training else blocks)
    assert nodes(explained, 'mmdtf.spectral_modulation.default') == 0
    assert nodes(explained, 'mmdtf.filter_estimate.default') == 0


@pytest.mark.slow  # a cold AOT-autograd compile, forward and backward
@pytest.mark.parametrize('build', [resnet_dtf, swin_dtf])
def test_compiled_matches_eager(build):
    model, x = build()
    # batch statistics aside: the same function both ways; in float64, as
    # random gammas make large features (float32 rounding differs by the
    # order of fused operations)
    model.eval().double()
    x = x.double().requires_grad_(True)
    torch._dynamo.reset()
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    out, out_ref = compiled(x), model(x)
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12)
    weight = torch.randn_like(out_ref)
    grad = torch.autograd.grad((out * weight).sum(), x)[0]
    grad_ref = torch.autograd.grad((out_ref * weight).sum(), x)[0]
    # float64 rounding at the gradients' scale (1e5 here): the compiled
    # backward runs the operators' hand-written gradients (FA's, the
    # spectral modulation's, the estimator's), which sum in other orders
    # than autograd through the eager ops
    scale = grad_ref.abs().max().item()
    torch.testing.assert_close(grad, grad_ref, rtol=1e-12,
                               atol=1e-12 * scale)


@pytest.mark.parametrize('build', [resnet_dtf, swin_dtf])
def test_compiled_inference_matches_eager(build):
    """Without gradients (each block's tail one operator)."""
    model, x = build()
    model.eval().double()
    x = x.double()
    torch._dynamo.reset()
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    with torch.no_grad():
        out, out_ref = compiled(x), model(x)
    # float64 rounding at the features' scale (inference's decompositions,
    # e.g. of the batch norm, order their operations differently)
    scale = out_ref.abs().max().item()
    torch.testing.assert_close(out, out_ref, rtol=1e-12, atol=1e-12 * scale)


@pytest.mark.parametrize('mixing', [False, True])
def test_no_recompilation_when_eager_calls_fill_caches(mixing):
    """The compiled graph reads no Python-side cache (the DFT matrices are
    constants of the graph where it traces the transforms, as with channel
    mixing; the default block's live inside its spectral-modulation
    operator, the FA masks inside FA's): eager calls that fill the caches in
    between do not trigger recompilation."""
    from torch._dynamo.testing import CompileCounter

    from mmdtf.models.blocks.spectral_transforms import _DFT_CACHE
    model, x = (resnet_dtf(variant=None, channel_mixing=True) if mixing
                else resnet_dtf())
    model.eval()
    _DFT_CACHE.clear()
    torch._dynamo.reset()
    counter = CompileCounter()
    compiled = torch.compile(model, backend=counter)
    with torch.no_grad():
        first = compiled(x)
        eager = model(x)  # fills the DFT cache
        again = compiled(x)
    assert _DFT_CACHE  # the eager call did fill it
    assert counter.frame_count == 1
    torch.testing.assert_close(again, first, rtol=0, atol=0)
    torch.testing.assert_close(first, eager, rtol=1e-5, atol=1e-5)
