"""Convert a checkpoint of TCPNet's public code into mmdtf's TSN + TCP keys.

    python tools/model_converters/convert_tcpnet.py \
        K400_TCP_TSN_R50_8f.pth.tar tcp-tsn_r50_1x1x8_k400_tcpnet.pth

Reads a TCPNet video model (new or old-style keys) or the GCP ImageNet
ResNet-50, writes ``{'state_dict', 'meta'}`` in MMAction2's Recognizer2D +
TCPHead names for ``load_from`` / ``mim test --checkpoint`` with the
configs in configs/tcp/ (which also read the original file directly, through
``TCPNetCheckpointHook``; docs/models/tcp.md).
"""
import argparse
from pathlib import Path

import torch

from mmdtf.models.weights.tcpnet import convert_tcpnet


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='TCPNet checkpoint (.pth.tar)')
    parser.add_argument('dst', help='output file (.pth)')
    args = parser.parse_args(argv)
    checkpoint = torch.load(args.src, map_location='cpu', weights_only=True)
    conversion = convert_tcpnet(checkpoint)
    torch.save(dict(state_dict=conversion.state_dict,
                    meta=dict(converted_from=conversion.kind,
                              source=Path(args.src).name)), args.dst)
    print(f'{args.src} ({conversion.kind}): {len(conversion.state_dict)} '
          f'tensors -> {args.dst}; not used: {conversion.unused or "none"}')


if __name__ == '__main__':
    main()
