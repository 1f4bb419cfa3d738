"""Every generated neuron module shows its real constructor arguments."""

import inspect

import pytest

from spikejax.nn import MODULES

CLASSES = [cls for classes in MODULES.values() for cls in classes.values()]
POSITIONAL = {"Cell": (), "Layer": (), "RecurrentCell": (3, 4), "Recurrent": (3, 4)}


def _kind(cls):
    return next(kind for kind, c in MODULES[cls.model.name].items() if c is cls)


def test_every_model_has_modules():
    assert len(CLASSES) >= 2 * len(MODULES) >= 20


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_signature_lists_the_real_keyword_arguments(cls):
    signature = inspect.signature(cls)
    kinds = {q.kind for q in signature.parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds
    names = list(signature.parameters)
    for name in ("p", "dt", "learnable", "param_dtype", "dtype"):
        assert name in names, f"{cls.__name__} signature {signature} lacks {name}"
    kind = _kind(cls)
    if kind in ("Layer", "Recurrent"):
        assert {"unroll", "remat", "record_states"} <= set(names)
    assert ("implementation" in names) == (kind == "Layer")
    if kind.startswith("Recurrent"):
        assert names[:3] == ["input_size", "hidden_size", "p"]
        assert {"autapses", "input_weights", "recurrent_weights", "rngs"} <= set(names)
    else:
        assert names[0] == "p"
    assert cls.model.parameters.__name__ in str(signature.parameters["p"].annotation)
    # Every listed keyword is accepted with its default; an unlisted one is refused.
    keywords = {q.name: q.default for q in signature.parameters.values()
                if q.kind is inspect.Parameter.KEYWORD_ONLY}
    cls(*POSITIONAL[kind], **keywords)
    with pytest.raises(TypeError):
        cls(*POSITIONAL[kind], not_an_argument=1)
    # detach_reset is listed exactly when the model has a reset to detach.
    if "detach_reset" in names:
        cls(*POSITIONAL[kind], detach_reset=True)
    else:
        with pytest.raises(TypeError):
            cls(*POSITIONAL[kind], detach_reset=True)
