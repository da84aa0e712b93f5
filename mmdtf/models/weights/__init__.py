"""Weight loading, in one room: reading checkpoint files
(:mod:`.checkpoint_file`), 2D ImageNet weights into the backbones
(:mod:`.resnet2d`, :mod:`.swin2d`, :mod:`.inflation`), and the converters of
the original implementations' checkpoints (:mod:`.dtf_authors`,
:mod:`.tcpnet`, :mod:`.coarse_fine`)."""
