"""Let ``load_from`` (``mim test --checkpoint``) take TCPNet's own files."""
from mmaction.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...models.weights.checkpoint_file import unwrap_state_dict
from ...models.weights.tcpnet import (convert_tcpnet, fit_tcpnet_to_model,
                                      tcpnet_kind)


@HOOKS.register_module()
class TCPNetCheckpointHook(Hook):
    """Converts a checkpoint of TCPNet's public code as it is loaded.

    A released TCPNet video model (``K400_TCP_TSN_R50_8f`` ...) or the GCP
    ImageNet ResNet-50 it fine-tunes from, given as ``load_from`` or to
    ``mim test --checkpoint``, is renamed into this model's keys
    (:mod:`mmdtf.models.weights.tcpnet`) before MMEngine loads it; any other
    checkpoint passes unchanged. In the TCP configs' ``custom_hooks``.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if tcpnet_kind(unwrap_state_dict(checkpoint)) is None:
            return
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        conversion = convert_tcpnet(checkpoint)
        state_dict, left_out = fit_tcpnet_to_model(conversion, model)
        runner.logger.info(
            f'{conversion.kind}: {len(state_dict)} tensors renamed into '
            f'this model; left out: {left_out or "nothing"}')
        checkpoint.clear()
        checkpoint.update(state_dict=state_dict,
                          meta=dict(converted_from=conversion.kind))
