"""Inferno 0.0.5 reference for the Diehl & Cook blocks: ALIF/LIF neurons, linear connections with
a delta-current synapse, weight normalisation and the MaxRateClassifier.

Needs ``inferno-ai==0.0.5`` (``pip install --no-deps inferno-ai==0.0.5 einops``) beside torch.
"""

import inferno
import numpy as np
import torch
from _common import inputs, save
from inferno import learn, neural

STEP = 1.0  # ms, the quickstart's step_time (spikejax: dt=1e-3 s)
EXC = dict(rest_v=-65.0, reset_v=-60.0, thresh_eq_v=-52.0, refrac_t=5.0, tc_membrane=100.0,
           tc_adaptation=1e7, spike_increment=0.05, resistance=1.0)
# A fast, strong adaptation, so that theta's decay and jumps show within a short run.
FAST = dict(EXC, tc_adaptation=20.0, spike_increment=2.0)
INH = dict(rest_v=-60.0, reset_v=-45.0, thresh_v=-40.0, refrac_t=2.0, time_constant=75.0,
           resistance=1.0)


def run_neuron(neuron, xs):
    spikes, v, refrac, theta = [], [], [], []
    for x in xs:
        spikes.append(neuron(torch.tensor(x)).float())
        v.append(neuron.voltage.clone())
        refrac.append(neuron.refrac.clone())
        if hasattr(neuron, "threshold_adaptation"):
            theta.append(neuron.threshold_adaptation[..., 0].clone())
    out = {"xs": xs, "z": torch.stack(spikes), "v": torch.stack(v), "refrac": torch.stack(refrac)}
    if theta:
        out["theta"] = torch.stack(theta)
    return out


def alif(params, xs):
    neuron = neural.ALIF(xs.shape[-1], STEP, batch_size=xs.shape[1], **params)
    neuron.train()
    return run_neuron(neuron, xs)


# Currents around the firing range: some neurons stay silent, some fire at the refractory limit.
T, N = 80, 5
xs_exc = np.abs(inputs(0, (T, 1, N), scale=400.0, offset=300.0)).astype(np.float32)
neurons = {
    "excitatory": alif(EXC, xs_exc),
    "fast_adaptation": alif(FAST, xs_exc),
    # Batch of 3: Inferno averages the theta update over the batch (spikejax: share_theta=True).
    "batch_mean": alif(FAST, np.abs(inputs(1, (T, 3, N), scale=400.0, offset=300.0))),
    "inhibitory": run_neuron(
        neural.LIF(N, STEP, batch_size=1, **INH),
        np.abs(inputs(2, (T, 1, N), scale=300.0, offset=200.0)).astype(np.float32),
    ),
}

# Connections: spikes -> DeltaCurrent -> weights, as in the quickstart.
rng = np.random.default_rng(3)
spikes = (rng.random((4, 6)) < 0.4).astype(np.float32)  # (B, N)
dense = neural.LinearDense(6, 3, STEP, synapse=neural.DeltaCurrent.partialconstructor(100.0),
                           batch_size=4)
lateral = neural.LinearLateral(6, STEP, synapse=neural.DeltaCurrent.partialconstructor(100.0),
                               weight_init=lambda x: inferno.full(x, -180.0), batch_size=4)
direct = neural.LinearDirect(6, STEP, synapse=neural.DeltaCurrent.partialconstructor(75.0),
                             weight_init=lambda x: inferno.full(x, 22.5), batch_size=4)
connections = {
    "spikes": spikes,
    "dense_weight": dense.weight,
    "dense": dense(torch.tensor(spikes).bool()),
    "lateral_weight": lateral.weight,
    "lateral": lateral(torch.tensor(spikes).bool()),
    "direct": direct(torch.tensor(spikes).bool()),
}

# Normalisation: Inferno's normalize (scale * F.normalize).
w = np.abs(inputs(4, (4, 7)))
normalization = {
    "w": w,
    "l1_rows": inferno.normalize(torch.tensor(w), 1, 78.4, -1),
    "l2_rows": inferno.normalize(torch.tensor(w), 2, 3.0, -1),
    "l1_all": inferno.normalize(torch.tensor(w), 1, 5.0, None),
}

# Classifier: three updates with decay, inference before each update (Inferno's forward).
N_CLS, K, B = 8, 3, 6
classifier = learn.MaxRateClassifier(N_CLS, K, decay=0.05)
batches = {}
for seed in range(3):
    r = np.random.default_rng(10 + seed)
    rates = r.random((B, N_CLS)).astype(np.float32)
    labels = r.integers(0, K, B) if seed else np.array([0, 0, 1, 1, 1, 0])  # class 2 absent
    logits = classifier.regress(torch.tensor(rates))
    plain = classifier.regress(torch.tensor(rates), proportional=False)
    classifier.update(torch.tensor(rates), torch.tensor(labels))
    batches[f"batch{seed}"] = {
        "rates": rates, "labels": labels.astype(np.float64), "logits_before": logits,
        "logits_plain_before": plain, "state_rates": classifier.rates.clone(),
        "assignments": classifier.assignments.double(), "occurrences": classifier.occurrences.double(),
        "proportions": classifier.proportions.clone(),
        "logits_after": classifier.regress(torch.tensor(rates)),
        "predictions_after": classifier.classify(torch.tensor(rates)).double(),
    }

save("inferno", {"neurons": neurons, "connections": connections,
                 "normalization": normalization, "classifier": batches})
