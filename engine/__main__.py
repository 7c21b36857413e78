"""`python -m engine` is `gradcam-batch`; it is also the entry point under torchrun:
`torchrun --nproc-per-node N -m engine run --data ... ` (engine.gradcam.distributed explains the rest)."""

from engine.cli import main

main()
