"""TCPNet's checkpoints in mmdtf: scores against numbers TCPNet's own code
produced (tests/fixtures/tcpnet_head.pt), and the key layouts of its
released files (tests/fixtures/tcpnet_keys.json) loading into the TCP
configs. How both fixtures were made: docs/models/tcp.md."""
import json
import types
from pathlib import Path

import helpers  # tests/helpers.py (tests/ is on sys.path: conftest.py)
import pytest
import torch
from mmaction.registry import MODELS
from mmengine.config import Config

from mmdtf.models.weights.tcpnet import (GCP_IMAGENET, VIDEO, convert_tcpnet,
                                         fit_tcpnet_to_model)

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / 'tests' / 'fixtures'
CONFIGS = REPO / 'configs' / 'tcp'
TSN = {8: CONFIGS / 'tcp-tsn_imagenet-pretrained-r50_8xb12-1x1x8-50e_'
       'kinetics400-rgb.py',
       16: CONFIGS / 'tcp-tsn_imagenet-pretrained-r50_8xb6-1x1x16-50e_'
       'kinetics400-rgb.py'}
TSM_8 = CONFIGS / 'tcp-tsm_imagenet-pretrained-r50_8xb12-1x1x8-50e_' \
    'kinetics400-rgb.py'
U32 = 2.0**-24  # float32 unit roundoff


@pytest.fixture(scope='module')
def head_fixture():
    return torch.load(FIXTURES / 'tcpnet_head.pt', weights_only=True)


def converted_head(fixture, num_segments):
    """A TCPHead of the fixture's widths holding its converted weights."""
    conversion = convert_tcpnet({'state_dict': fixture['state_dict']})
    assert conversion.kind == VIDEO and not conversion.unused
    state = {k[len('cls_head.'):]: v
             for k, v in conversion.state_dict.items()}
    mid, in_channels = state['reduce.0.weight'].shape[:2]
    num_classes, _ = state['fc_cls.weight'].shape
    head = MODELS.build(dict(
        type='TCPHead', num_classes=num_classes, in_channels=in_channels,
        num_segments=num_segments, mid_channels=mid,
        tcp_channels=state['reduce.3.weight'].shape[0]))
    head.load_state_dict(state, strict=True)
    return head.eval()


@pytest.mark.parametrize('num_segments', [8, 16])
def test_head_matches_tcpnet_in_float64(head_fixture, num_segments):
    """TCPNet's TSN (TCP module, its dropout, new_fc) and our TCPHead, both
    in float64 from the same weights: float64 rounding (~1e-15 relative) is
    all that may differ. TCPNet's trace eps alone moves these scores by
    >1e-5, a frame or a Newton-Schulz step by far more."""
    fixture = head_fixture[f't{num_segments}']
    head = converted_head(fixture, num_segments).double()
    with torch.no_grad():
        scores = head(fixture['input'].double())
    torch.testing.assert_close(scores, fixture['scores_float64'],
                               rtol=1e-10, atol=1e-12)


def longest_accumulation(head, x) -> int:
    """Terms summed along the longest chain of the head's float32 sums, an
    upper bound on the roundings any value passes: the two reductions, TSA
    (1x1 conv, affinity, weighted sum over positions), TCA (mean over
    positions, its two 1x1 convs), the temporal conv, the covariance over
    M = T*H*W positions (twice in TCPNet's centring-matrix form), the
    Newton-Schulz products (2N of D terms) and the classifier."""
    conv1, _, _, conv2, _, _ = head.reduce
    d = head.fc_cls.in_features
    dim = conv2.out_channels
    positions = x.shape[2] * x.shape[3]
    kernel = head.attention.conv_t.kernel_size[0]
    return (conv1.in_channels + conv2.in_channels + 2 * dim + positions
            + positions + dim + 4 * dim + dim * kernel
            + 2 * head.num_segments * positions
            + 2 * head.sqrt.num_iterations * dim + d)


@pytest.mark.parametrize('num_segments', [8, 16])
def test_head_matches_tcpnet_scores_in_float32(head_fixture, num_segments):
    """Our float32 head against the float32 scores TCPNet computed. Each
    value is a chain of sums of at most L terms; each float32 sum of n terms
    is within n*u of the sum of the magnitudes of its terms (Higham,
    Accuracy and Stability, 3.1; any order: AVX2, AVX-512, threads), so
    either result is within L*u*(|W||r| + |b|) of the exact score, and the
    two within twice that. The same bound holds TCPNet's float32 numbers
    to its own float64 ones (the fixture is the float32 rounding of that
    function)."""
    fixture = head_fixture[f't{num_segments}']
    head = converted_head(fixture, num_segments)
    x = fixture['input']
    with torch.no_grad():
        scores = head(x)
        representation = head.double().pool(x.double())
    magnitude = (representation.abs() @ head.fc_cls.weight.abs().T
                 + head.fc_cls.bias.abs())
    bound = longest_accumulation(head, x) * U32 * magnitude
    assert ((fixture['scores'] - fixture['scores_float64']).abs()
            <= bound).all()
    assert ((scores.double() - fixture['scores'].double()).abs()
            <= 2 * bound).all()
    # not vacuous: the bound is well below the scores' spread
    assert bound.max() < 1e-2 * fixture['scores'].std()


@pytest.fixture(scope='module')
def tcpnet_keys():
    return json.loads((FIXTURES / 'tcpnet_keys.json').read_text())


def random_checkpoint(shapes, seed=0):
    """A file as TCPNet's main.py saves it, random tensors of ``shapes``."""
    gen = torch.Generator().manual_seed(seed)
    state_dict = {
        k: (torch.tensor(100) if k.endswith('num_batches_tracked') else
            torch.randn(shape, generator=gen))
        for k, shape in shapes.items()}
    return dict(epoch=50, arch='resnet50', best_prec1=75.3,
                state_dict=state_dict,
                optimizer=dict(state={0: dict(momentum_buffer=torch.ones(2))},
                               param_groups=[dict(params=[0], lr=0.015)]))


@pytest.fixture(scope='module')
def tsn_models():
    models = {}
    for name, path in [(8, TSN[8]), (16, TSN[16]), ('tsm', TSM_8)]:
        cfg = Config.fromfile(str(path))
        cfg.model.backbone.pretrained = None
        models[name] = MODELS.build(cfg.model).eval()
    return models


# TCPNet's names (its modules, as keys_mapping.py reads them) -> ours,
# written out by hand for a few tensors of every kind
SAME_TENSOR = {
    'module.base_model.conv1.weight': 'backbone.conv1.conv.weight',
    'module.base_model.bn1.running_var': 'backbone.conv1.bn.running_var',
    'module.base_model.layer1.0.downsample.1.weight':
        'backbone.layer1.0.downsample.bn.weight',
    'module.base_model.layer4.2.conv3.weight':
        'backbone.layer4.2.conv3.conv.weight',
    'module.base_model.layer3.5.bn2.running_mean':
        'backbone.layer3.5.conv2.bn.running_mean',
    'module.base_model.TCP.layer_reduce1.weight': 'cls_head.reduce.0.weight',
    'module.base_model.TCP.layer_reduce_bn2.running_var':
        'cls_head.reduce.4.running_var',
    'module.base_model.TCP.TCP_att.TSA.conv_phi_1.weight':
        'cls_head.attention.tsa.phi_prev1.weight',
    'module.base_model.TCP.TCP_att.TSA.conv_phi_2.bias':
        'cls_head.attention.tsa.phi_prev2.bias',
    'module.base_model.TCP.TCP_att.TSA.conv_phi0.weight':
        'cls_head.attention.tsa.phi.weight',
    'module.base_model.TCP.TCP_att.TSA.norm.weight':
        'cls_head.attention.tsa.norm.weight',
    'module.base_model.TCP.TCP_att.TCA.g1.weight':
        'cls_head.attention.tca.excite.0.weight',
    'module.base_model.TCP.TCP_att.TCA.g2.bias':
        'cls_head.attention.tca.excite.2.bias',
    'module.base_model.TCP.TCP_att.conv_1d.weight':
        'cls_head.attention.conv_t.weight',
    'module.new_fc.weight': 'cls_head.fc_cls.weight',
}
OLD_STYLE = {  # TCPNet's keys_mapping_old_resnet, read backwards
    'module.base_model.TCP.TCP_att.TSA.conv_phi_1.weight':
        'module.base_model.layer4.iSQRT.att_module.sp_att.conv_theta.weight',
    'module.base_model.TCP.TCP_att.TSA.conv_phi_2.bias':
        'module.base_model.layer4.iSQRT.att_module.sp_att.conv_phi.bias',
    'module.base_model.TCP.TCP_att.TSA.conv_phi0.weight':
        'module.base_model.layer4.iSQRT.att_module.sp_att.conv_g.weight',
    'module.base_model.TCP.TCP_att.TSA.norm.weight':
        'module.base_model.layer4.iSQRT.att_module.sp_att.norm.weight',
    'module.base_model.TCP.TCP_att.TCA.g1.weight':
        'module.base_model.layer4.iSQRT.att_module.conv_1.weight',
    'module.base_model.TCP.TCP_att.TCA.g2.bias':
        'module.base_model.layer4.iSQRT.att_module.conv_2.bias',
    'module.base_model.TCP.TCP_att.conv_1d.weight':
        'module.base_model.layer4.iSQRT.att_module.conv_1d.weight',
    'module.base_model.TCP.layer_reduce1.weight':
        'module.base_model.layer4.iSQRT.layer_reduce1.weight',
    'module.base_model.TCP.layer_reduce_bn2.running_var':
        'module.base_model.layer4.iSQRT.layer_reduce_bn2.running_var',
}


@pytest.mark.parametrize('name', ['k400_tsn_r50_8f', 'k400_tsn_r50_16f',
                                  'k400_tsn_r50_8f_old_style'])
def test_k400_checkpoint_fills_the_tsn_config(tcpnet_keys, tsn_models,
                                              name):
    """Every tensor of the TSN + TCP config comes from the file, each from
    the tensor TCPNet's module of the same role holds."""
    model = tsn_models[16 if '16f' in name else 8]
    checkpoint = random_checkpoint(tcpnet_keys[name])
    conversion = convert_tcpnet(checkpoint)
    assert conversion.kind == VIDEO
    state_dict, left_out = fit_tcpnet_to_model(conversion, model)
    assert left_out == []
    assert set(state_dict) == set(model.state_dict())
    source = checkpoint['state_dict']
    for theirs, ours in SAME_TENSOR.items():
        if 'old_style' in name:
            theirs = OLD_STYLE.get(theirs, theirs)
        assert state_dict[ours] is source[theirs]


def test_backbone_lands_where_the_resnet_loader_puts_it(tcpnet_keys,
                                                        tsn_models, tmp_path):
    """The converted backbone equals what ResNetMultiFormat's own loader
    (tested on torchvision files) makes of the same tensors in
    torchvision's names, given as ``pretrained``."""
    checkpoint = random_checkpoint(tcpnet_keys['k400_tsn_r50_8f'])
    prefix = 'module.base_model.'
    torchvision_names = {
        k[len(prefix):]: v for k, v in checkpoint['state_dict'].items()
        if k.startswith(prefix) and '.TCP.' not in k}
    path = tmp_path / 'resnet50.pth'
    torch.save(torchvision_names, path)
    backbone = MODELS.build(dict(type='ResNetMultiFormat', depth=50,
                                 strides=(1, 2, 2, 1), pretrained=str(path)))
    backbone.init_weights()
    converted, _ = fit_tcpnet_to_model(convert_tcpnet(checkpoint),
                                       tsn_models[8])
    expected = backbone.state_dict()
    ours = {k[len('backbone.'):]: v for k, v in converted.items()
            if k.startswith('backbone.')}
    assert set(ours) == set(expected)
    for key, value in expected.items():
        torch.testing.assert_close(ours[key], value, rtol=0, atol=0)


@pytest.mark.parametrize('backbone', [8, 'tsm'])
def test_gcp_imagenet_model_gives_backbone_and_reductions(tcpnet_keys,
                                                          tsn_models,
                                                          backbone):
    """TCPNet's load_GCP_from: the ResNet (into TSM's shifted convolutions
    too) and both reductions; the attention and the classifier start fresh;
    the ImageNet fc is not used."""
    model = tsn_models[backbone]
    checkpoint = random_checkpoint(tcpnet_keys['gcp_imagenet_r50'])
    conversion = convert_tcpnet(checkpoint)
    assert conversion.kind == GCP_IMAGENET
    state_dict, left_out = fit_tcpnet_to_model(conversion, model)
    assert sorted(left_out) == ['fc.bias', 'fc.weight']
    fresh = set(model.state_dict()) - set(state_dict)
    assert fresh and all(k.startswith(('cls_head.attention.',
                                       'cls_head.fc_cls.')) for k in fresh)
    assert {k for k in state_dict if k.startswith('cls_head.')} == {
        f'cls_head.reduce.{i}.{p}' for i, params in
        ((0, ['weight']), (3, ['weight']),
         (1, ['weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked']),
         (4, ['weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked'])) for p in params}
    source = checkpoint['state_dict']
    assert state_dict['cls_head.reduce.4.running_var'] is \
        source['module.layer_reduce_bn2.running_var']
    shifted = '.net' if backbone == 'tsm' else ''
    assert state_dict[f'backbone.layer2.3.conv1.conv{shifted}.weight'] is \
        source['module.layer2.3.conv1.weight']
    assert state_dict['backbone.layer2.3.conv2.conv.weight'] is \
        source['module.layer2.3.conv2.weight']


def with_shape(model, key, shape):
    """A stand-in for ``model`` whose ``key`` has another shape."""
    own = dict(model.state_dict())
    own[key] = torch.zeros(shape)
    return types.SimpleNamespace(state_dict=lambda: own)


def test_what_fine_tuning_leaves_out(tcpnet_keys, tsn_models):
    """Another number of classes: the classifier is left out; another
    tcp_channels than the GCP model's 128: its second reduction too (as
    TCPNet's --pretrained_dim does)."""
    video = convert_tcpnet(random_checkpoint(tcpnet_keys['k400_tsn_r50_8f']))
    model = with_shape(tsn_models[8], 'cls_head.fc_cls.weight', (10, 8256))
    state_dict, left_out = fit_tcpnet_to_model(video, model)
    assert 'cls_head.fc_cls.weight' not in state_dict
    assert left_out == ['cls_head.fc_cls.weight (400 classes, the model has '
                        '10: fine-tuning)']
    gcp = convert_tcpnet(random_checkpoint(tcpnet_keys['gcp_imagenet_r50']))
    model = with_shape(tsn_models[8], 'cls_head.reduce.3.weight',
                       (64, 256, 1, 1))
    state_dict, left_out = fit_tcpnet_to_model(gcp, model)
    assert 'cls_head.reduce.3.weight' not in state_dict
    assert 'model.cls_head.tcp_channels is 64' in left_out[-1]


def test_mismatches_name_the_config_key(tcpnet_keys, tsn_models):
    sixteen = convert_tcpnet(random_checkpoint(
        tcpnet_keys['k400_tsn_r50_16f']))
    with pytest.raises(ValueError, match='model.cls_head.num_segments'):
        fit_tcpnet_to_model(sixteen, tsn_models[8])
    without_tsa = dict(tsn_models[8].state_dict())
    for key in [k for k in without_tsa if '.tsa.' in k]:
        del without_tsa[key]
    with pytest.raises(ValueError, match='model.cls_head'):
        fit_tcpnet_to_model(sixteen, types.SimpleNamespace(
            state_dict=lambda: without_tsa))


def test_foreign_files_are_refused(tcpnet_keys):
    preact = random_checkpoint(tcpnet_keys['k400_tsn_r50_8f'])
    preact['state_dict']['module.base_model.bn_data.weight'] = torch.ones(3)
    with pytest.raises(ValueError, match='pre-activation ResNet-152'):
        convert_tcpnet(preact)
    with pytest.raises(ValueError, match='not a TCPNet checkpoint'):
        convert_tcpnet({'conv1.weight': torch.ones(1), 'fc.bias':
                        torch.ones(1)})


def test_tsn_config_reads_tcpnet_files_through_load_from(tcpnet_keys,
                                                         tmp_path):
    """``mim test <config> --checkpoint K400_TCP_TSN_R50_8f.pth.tar``: the
    runner loads TCPNet's file as it is (TCPNetCheckpointHook); the
    converter's output loads the same without the hook's help."""
    from mmengine.runner import Runner
    checkpoint = random_checkpoint(tcpnet_keys['k400_tsn_r50_8f_old_style'])
    source = checkpoint['state_dict']
    original = tmp_path / 'K400_TCP_TSN_R50_8f.pth.tar'
    torch.save(checkpoint, original)
    converted = tmp_path / 'converted.pth'
    helpers.load_tool('model_converters/convert_tcpnet').main(
        [str(original), str(converted)])
    cfg = Config.fromfile(str(TSN[8]))
    cfg.model.backbone.pretrained = None
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    for path in (original, converted):
        for value in runner.model.state_dict().values():
            value.zero_()
        runner.load_checkpoint(str(path))
        state = runner.model.state_dict()
        for theirs, ours in SAME_TENSOR.items():
            assert torch.equal(state[ours], source[OLD_STYLE.get(theirs,
                                                                 theirs)])
