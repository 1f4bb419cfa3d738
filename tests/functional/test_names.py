"""One name per concept across models; peers' spellings only as documented aliases (issue 15)."""

import dataclasses
import inspect

import jax
import pytest

import spikejax.functional as F
from spikejax.functional import MODELS
from spikejax.nn import MODULES

# Every parameter field of every model, as (model, field) -> the concept it holds. A new field
# must be added here: the test below then checks that no other model spells its concept another
# way. Fields that hold a different quantity (a time constant in ms, not an inverse in 1/s)
# are different concepts.
CONCEPTS = {
    # The LIF family (Norse's names and units).
    **{(model, "tau_syn_inv"): "inverse synaptic time constant, 1/s"
       for model in ("LIF", "LI", "LSNN", "LIFEx", "LIFAdEx")},
    **{(model, "tau_mem_inv"): "inverse membrane time constant, 1/s"
       for model in ("LIF", "LI", "LIFBox", "LSNN", "LIFEx", "LIFAdEx")},
    **{(model, "v_leak"): "resting (leak) potential"
       for model in ("LIF", "LI", "LIFBox", "LSNN", "LIFEx", "LIFAdEx", "CobaLIF", "ALIF")},
    **{(model, "v_th"): "firing threshold"
       for model in ("LIF", "IAF", "LIFBox", "LSNN", "LIFEx", "LIFAdEx", "CobaLIF", "ALIF",
                     "Izhikevich", "Leaky", "Synaptic")},
    **{(model, "v_reset"): "reset potential"
       for model in ("LIF", "IAF", "LIFBox", "LSNN", "LIFEx", "LIFAdEx", "CobaLIF", "ALIF")},
    **{(model, "method"): "surrogate gradient"
       for model in ("LIF", "IAF", "LIFBox", "LSNN", "LIFEx", "LIFAdEx", "CobaLIF", "ALIF",
                     "Izhikevich", "Leaky", "Synaptic")},
    **{(model, "alpha"): "surrogate sharpness"
       for model in ("LIF", "IAF", "LIFBox", "LSNN", "LIFEx", "LIFAdEx", "CobaLIF", "ALIF",
                     "Izhikevich", "Leaky", "Synaptic")},
    **{(model, "reset_mechanism"): "reset rule"
       for model in ("LIFBox", "Leaky", "Synaptic")},
    **{(model, "delta_T"): "exponential sharpness" for model in ("LIFEx", "LIFAdEx")},
    **{(model, "spike_increment"): "threshold increase per spike" for model in ("LSNN", "ALIF")},
    ("LSNN", "tau_adapt_inv"): "inverse adaptation time constant, 1/s",
    ("LIFAdEx", "tau_adapt_inv"): "inverse adaptation time constant, 1/s",
    ("LIFAdEx", "adaptation_current"): "subthreshold adaptation coupling",
    ("LIFAdEx", "adaptation_spike"): "adaptation current increase per spike",
    ("CobaLIF", "tau_syn_exc_inv"): "inverse excitatory synaptic time constant, 1/s",
    ("CobaLIF", "tau_syn_inh_inv"): "inverse inhibitory synaptic time constant, 1/s",
    ("CobaLIF", "c_m_inv"): "inverse membrane capacitance",
    ("CobaLIF", "g_l"): "leak conductance",
    ("CobaLIF", "e_rev_E"): "excitatory reversal potential",
    ("CobaLIF", "e_rev_I"): "inhibitory reversal potential",
    # Inferno's ALIF keeps Inferno's units: time constants in ms, not inverses in 1/s.
    ("ALIF", "refrac_t"): "refractory period, ms",
    ("ALIF", "tc_membrane"): "membrane time constant, ms",
    ("ALIF", "tc_adaptation"): "adaptation time constant, ms",
    ("ALIF", "resistance"): "membrane resistance",
    ("LIFRefrac", "lif"): "nested LIF parameters",
    ("LIFRefrac", "rho_reset"): "refractory period, steps",
    # snnTorch's discrete-time decays per step.
    ("Leaky", "beta"): "membrane decay per step",
    ("Synaptic", "beta"): "membrane decay per step",
    ("Synaptic", "alpha_syn"): "synaptic decay per step",
    ("Leaky", "reset_delay"): "reset one step late",
    ("Synaptic", "reset_delay"): "reset one step late",
    # Izhikevich's published coefficients (Norse's names).
    ("Izhikevich", "a"): "Izhikevich a: recovery time scale",
    ("Izhikevich", "b"): "Izhikevich b: recovery sensitivity",
    ("Izhikevich", "c"): "Izhikevich c: after-spike voltage",
    ("Izhikevich", "d"): "Izhikevich d: after-spike recovery increment",
    ("Izhikevich", "sq"): "Izhikevich v^2 coefficient",
    ("Izhikevich", "mn"): "Izhikevich v coefficient",
    ("Izhikevich", "bias"): "Izhikevich constant drive",
    ("Izhikevich", "tau_inv"): "model milliseconds per second",
}

# The peers' spellings each model accepts (alias -> field).
ALIASES = {
    "Leaky": {"threshold": "v_th"},
    "Synaptic": {"threshold": "v_th"},
    "CobaLIF": {"v_rest": "v_leak", "v_thresh": "v_th"},
    "LIFAdEx": {"tau_ada_inv": "tau_adapt_inv"},
    "LSNN": {"beta": "spike_increment"},
    "ALIF": {"rest_v": "v_leak", "reset_v": "v_reset", "thresh_eq_v": "v_th"},
    "LIFBox": {"reset_method": "reset_mechanism"},
}


def _fields():
    return {(name, f.name) for name, model in MODELS.items()
            for f in dataclasses.fields(model.parameters)}


def test_every_model_field_is_classified():
    assert _fields() == set(CONCEPTS), (
        f"not classified: {sorted(_fields() - set(CONCEPTS))}; "
        f"no longer fields: {sorted(set(CONCEPTS) - _fields())}"
    )


def test_no_two_models_spell_one_concept_two_ways():
    spellings = {}
    for (model, field), concept in CONCEPTS.items():
        spellings.setdefault(concept, {}).setdefault(field, []).append(model)
    twice = {concept: names for concept, names in spellings.items() if len(names) > 1}
    assert twice == {}


@pytest.mark.parametrize("model", sorted(MODELS))
def test_the_aliases_are_the_documented_ones(model):
    cls = MODELS[model].parameters
    assert cls.aliases() == ALIASES.get(model, {})
    fields = {field for _, field in _fields()}
    for alias, field in cls.aliases().items():
        assert alias not in fields or (model, alias) not in CONCEPTS  # never a field of its own
        assert f"``{alias}``" in cls.__doc__ + inspect.getmodule(cls).__doc__, f"{alias} undocumented"


@pytest.mark.parametrize("model", sorted(ALIASES))
def test_an_alias_sets_and_reads_its_field(model):
    cls = MODELS[model].parameters
    for alias, field in ALIASES[model].items():
        value = getattr(cls(), field)
        if isinstance(value, float):
            value = value - 0.5 if field != "spike_increment" else value + 0.5
        elif field == "reset_mechanism":
            value = {"value": "subtract", "subtract": "zero"}[value]
        via_alias, via_field = cls(**{alias: value}), cls(**{field: value})
        assert via_alias == via_field and getattr(via_alias, alias) == value
        assert cls().replace(**{alias: value}) == via_field
        with pytest.raises(TypeError, match=rf"both {field}=.* and its alias {alias}="):
            cls(**{field: value, alias: value})
        with pytest.raises(TypeError, match=rf"both {field}=.* and its alias {alias}="):
            cls().replace(**{field: value, alias: value})
        assert alias in inspect.signature(cls).parameters  # shown, keyword-only
        assert inspect.signature(cls).parameters[alias].kind is inspect.Parameter.KEYWORD_ONLY


def test_a_field_given_by_position_and_its_alias_is_refused():
    with pytest.raises(TypeError, match=r"LeakyParameters got both v_th \(by position\) and its "
                                        r"alias threshold=2.0 \(snnTorch's spelling\)"):
        F.LeakyParameters(0.9, 1.0, threshold=2.0)


def test_an_alias_is_not_a_pytree_leaf_and_survives_a_transform():
    p = F.LeakyParameters(threshold=0.5)
    assert [k[0].name for k, _ in jax.tree_util.tree_flatten_with_path(p)[0]] == ["beta", "v_th", "alpha"]
    grads = jax.grad(lambda q: q.threshold * 2.0)(p)    # read through the alias in a transform
    assert float(grads.v_th) == 2.0 and float(grads.threshold) == 2.0


def test_a_state_dict_written_with_an_alias_restores():
    from flax import serialization

    written = serialization.to_state_dict(F.CobaLIFParameters())
    written["v_thresh"] = written.pop("v_th") - 20.0              # as Norse's name
    assert serialization.from_state_dict(F.CobaLIFParameters(), written).v_th == -30.0


def test_modules_take_the_alias_as_a_learnable_name():
    cell = MODULES["Leaky"]["Cell"](learnable=("threshold",))      # snnTorch's learn_threshold
    assert cell.learnable == ("v_th",) and float(cell.v_th[...]) == 1.0
    with pytest.raises(ValueError, match=r"learnable names 'thresh'"):
        MODULES["Leaky"]["Cell"](learnable=("thresh",))


@pytest.mark.parametrize("model", sorted(ALIASES))
def test_the_constructor_annotations_still_resolve(model):
    # Documentation tools read the wrapped constructor's annotations in the model's module.
    import typing

    hints = typing.get_type_hints(MODELS[model].parameters.__init__)
    assert {f.name for f in dataclasses.fields(MODELS[model].parameters)} <= set(hints)
