"""The one batched pass, the only torch-heavy stage: probe the model once (probe.py), then every batch's
logits and Grad-CAM maps from one forward pass (one_pass.py, methods.py), shared out across CPU lanes
(lanes.py), streamed over the data set (stream.py) and, under torchrun, over several processes
(distributed.py, shards.py)."""
