"""Helpers for the reference generators (run with torch + norse + snntorch, not in the tests)."""

import json
import pathlib
import warnings

import numpy as np

warnings.filterwarnings("ignore")
DATA = pathlib.Path(__file__).parent / "data"


def tolist(x):
    """Torch tensors, numpy arrays and nested tuples to JSON lists."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, (tuple, list)):
        return [tolist(v) for v in x]
    if isinstance(x, dict):
        return {k: tolist(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        return x.astype(np.float64).tolist()
    return x


def inputs(seed, shape, scale=1.0, offset=0.0):
    """Reproducible float32 inputs."""
    return (np.random.default_rng(seed).standard_normal(shape) * scale + offset).astype(np.float32)


def save(name, payload):
    DATA.mkdir(exist_ok=True)
    path = DATA / f"{name}.json"
    path.write_text(json.dumps(tolist(payload)))
    print(f"wrote {path}")


def record(step, state, xs):
    """Run ``step(x, state) -> (out, state)`` over xs; return outputs and each state's fields."""
    outs, states = [], []
    for x in xs:
        out, state = step(x, state)
        outs.append(out)
        states.append(state)
    import torch

    fields = {f: torch.stack([getattr(s, f) for s in states]) for f in states[0]._fields}
    return torch.stack(outs), fields
