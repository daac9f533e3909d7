"""Made-up study results (no MLflow, no training): for each study a world where every claim holds and one
where none does, and a mixed one whose seeds disagree; shared by the study and rule tests."""
from trainlab.models import ACTIVATIONS
from trainlab.pipeline.experiments.studies import Results
from trainlab.pipeline.experiments.sweeps import Comparison, Row

# --- findings on made-up results, both ways --------------------------------------------------------

def constructed(rows: dict, series: dict | None = None, measured: dict | None = None,
                base: dict | None = None) -> Results:
    """Results without MLflow: ``{label: {metric: value or [value per seed], "fit": ...}}``, three seeds."""
    made, members = [], {}
    for label, metrics in rows.items():
        members[label] = []
        for i in range(3):
            name = f"{label} #{i}"
            values = {k: (v[i] if isinstance(v, list) else v) for k, v in metrics.items() if k != "fit"}
            fit = metrics.get("fit", "")
            made.append(Row(name, "FINISHED", {}, values, run_id=f"run-{name}",
                            fit=fit[i] if isinstance(fit, list) else fit))
            members[label].append(name)
    results = Results(Comparison("constructed", "best_val_accuracy", [], made), "default", members, {},
                      measured or {}, base=base or {})
    for (label, key), values in (series or {}).items():
        for i in range(3):
            results._series[f"run-{label} #{i}", key] = values
    return results


def acc(*values):
    return {"best_val_accuracy": list(values)}


def activations_world(good: bool):
    from trainlab.pipeline.experiments.studies.activations import WITH_BN, bn
    rows = {a: {**acc(0.90, 0.905, 0.91), "probe.epochs_run": 8, "probe.accuracy_threshold": 0.75,
                "probe.epochs_to_accuracy": 1.0} for a in ACTIVATIONS}
    rows.update({bn(a): {**acc(0.9, 0.9, 0.9), "probe.epochs_to_accuracy": 1.0} for a in WITH_BN})
    rows["tanh"]["probe.epochs_to_accuracy"] = [6.0, 5.5, 7.0] if good else [0.6, 0.65, 0.55]
    rows["tanh"].update(acc(0.85, 0.86, 0.87) if good else acc(0.95, 0.96, 0.97))
    rows["sigmoid"].update({**acc(0.5, 0.6, 0.55), "probe.epochs_to_accuracy": None} if good else
                           {**acc(0.95, 0.96, 0.97), "probe.epochs_to_accuracy": [0.5, 0.6, 0.55]})
    if not good:
        rows["elu"].update(acc(0.80, 0.81, 0.80))
        rows["relu"].update(acc(0.85, 0.855, 0.86))
        rows["leaky_relu"]["probe.epochs_to_accuracy"] = [3.0, 3.1, 2.9]
    relu, slow = [1.0, 1.1, 1.0], ([2.0, 2.1, 2.2] if good else [0.5, 0.6, 0.5])
    measured = {a: {"seconds": relu} for a in ACTIVATIONS}
    measured["sigmoid"] = measured["elu"] = {"seconds": slow}
    measured["maxout over relu"] = {"parameters": [2.0, 1.99, 1.98] if good else [1.0, 1.01, 1.0]}
    return rows, {}, measured, {"data.dataset": "/data/cifar-10-python.tar.gz"}   # the lecture's setting


def units_world(good: bool):
    # grad first/last, first-layer mean, std last/first, saturated fraction, saturated-unit gradient, mean/std
    fresh = {"sigmoid": (0.001, 0.6, 1.0, 0.2, 0.5, 3.0), "tanh": (1.0, 0.01, 1.0, 0.05, 0.5, 0.01),
             "relu": (1.0, 0.3, 1.0, 0.5, 0.5, 1.0), "leaky_relu": (1.0, 0.01, 1.0, 0.0, 0.5, 0.01),
             "tanh, large init": (0.001, 0.0, 1.0, 0.8, 0.01, 0.0), "selu": (1.0, 0.0, 1.1, 0.0, 0.5, 0.0),
             "sigmoid, large init": (0.1, 0.5, 1.0, 0.43, 0.07, 0.0)}
    if not good:
        fresh = {**fresh, "sigmoid": (2.0, 0.01, 1.0, 0.2, 0.5, 0.0), "tanh, large init": (1.0, 0.0, 1.0, 0.01, 0.9, 0),
                 "sigmoid, large init": (0.1, 0.5, 1.0, 0.01, 0.9, 0.0),
                 "selu": (1.0, 0.0, 0.01, 0.0, 0.5, 0.0), "leaky_relu": (1.0, 0.5, 1.0, 0.0, 0.5, 0.6),
                 "relu": (1.0, 0.3, 1.0, 0.5, 0.5, 0.01)}
    fresh["relu, large init"] = (1.0, 0.3, 1.0, 0.5, 0.5, 1.0, 0.0 if good else 0.3)
    keys = ("grad_first_over_last", "first_layer_mean", "act_std_last_over_first", "saturated_fraction",
            "saturated_unit_gradient", "first_layer_mean_over_std", "positive_saturated_fraction")
    measured = {label: {k: [v, v * 1.01, v * 0.99] for k, v in zip(keys, values)} for label, values in fresh.items()}
    rows = {"relu, low rate": {"probe.dead_fraction": 0.0}}
    for c in ("rate 0.1", "rate 0.05", "rate 0.03", "rate 0.1, clipped to 1"):
        rows[f"relu, {c}"] = {"probe.dead_fraction": [0.2, 0.25, 0.3] if good else 0.0, "probe.dead_fraction_init": 0.0}
        for a in ("leaky_relu", "elu", "maxout"):
            rows[f"{a}, {c}"] = {"probe.dead_fraction": 0.0}
    rows["elu"] = {"probe.noise_accuracy_drop": [0.01, 0.012, 0.011] if good else [0.2, 0.21, 0.22]}
    rows["leaky_relu"] = {"probe.noise_accuracy_drop": [0.1, 0.11, 0.12]}
    rows["selu, deep"], rows["relu, deep"] = acc(0.95, 0.96, 0.955), acc(0.90, 0.91, 0.905)
    if not good:
        rows["selu, deep"], rows["relu, deep"] = rows["relu, deep"], rows["selu, deep"]
    return rows, {}, measured


def init_world(good: bool):
    def point(ratio, val, spread=None):
        return {"probe.act_std_last_over_first": ratio, **acc(val, val + 0.001, val - 0.001),
                **({"probe.max_unit_spread": spread} if spread is not None else {})}
    rows = {"constant/relu": point(1.0, 0.11, 0.0 if good else 0.05),
            "small_random/tanh": point(1e-8 if good else 0.9, 0.11),
            "glorot/tanh": point(0.6 if good else 0.01, 0.95), "glorot/relu": point(0.1 if good else 1.0, 0.94),
            "he/relu": point(1.1 if good else 0.01, 0.96),
            "small_random/tanh, shallow": point(1.0, 0.90 if good else 0.11), "glorot/tanh, shallow": point(1.0, 0.905)}
    if not good:
        rows["constant/relu"].update(acc(0.96, 0.97, 0.965))
    return rows, {}, {}


def learning_rate_world(good: bool):
    rows = {"lr 1e-05": acc(0.5, 0.52, 0.51), "lr 0.0005": acc(0.95, 0.952, 0.951), "lr 1": acc(0.1, 0.1, 0.1)}
    if good:
        rows["lr 1"]["fit"] = "diverged"
        return rows, {}, {}
    rows["lr 1"] = acc(0.97, 0.975, 0.98)
    rows["lr 1e-05"] = acc(0.96, 0.96, 0.96)
    return rows, {("lr 1", "probe.batch_loss"): [(1, 2.3), (100, 0.2)]}, {}


def preprocessing_world(good: bool):
    def point(steps, val):
        return {"probe.steps_to_accuracy": steps, "probe.steps_run": 900, **acc(val, val + 0.002, val - 0.002)}
    if good:
        rows = {"scaled": point([400, 420, 380], 0.90), "centered": point(200, 0.95),
                "standardized": point([100, 90, 110], 0.95)}
    else:
        rows = {"scaled": point(100, 0.95), "centered": point([400, 420, 380], 0.90), "standardized": point(800, 0.95)}
    far = [0.5, 0.6, 0.55] if good else [0.05, 0.05, 0.05]
    mnist = {"height": [28], "width": [28], "training images": [60000 if good else 50000], "test images": [10000],
             "classes": [10]}
    return rows, {}, {"far": {"sensitivity": far, "train_accuracy": [0.9] * 3},
                      "centred": {"sensitivity": [0.1, 0.12, 0.11], "train_accuracy": [0.9] * 3}, "mnist": mnist}


def regularization_world(good: bool):
    from trainlab.pipeline.experiments.studies.regularization import TECHNIQUES

    def point(train, val):
        return {"probe.train_accuracy": train, **acc(val, val + 0.004, val - 0.004)}
    rows = {"none": point(1.0, 0.80), "wide MLP": point(1.0, 0.80)}
    better, worse = point(0.95, 0.86), point(0.80, 0.70)  # worse: a smaller gap bought by a worse model
    rows.update({p: better if good else worse for p in TECHNIQUES})
    rows["4x data"] = rows["wide MLP + dropout 0.5"] = better if good else worse
    return rows, {}, {}


def augmentation_world(good: bool):
    none, better, worse = acc(0.80, 0.81, 0.80), acc(0.85, 0.86, 0.85), acc(0.70, 0.71, 0.70)
    rows = {"clothes, none": none, "digits, none": none}
    rows.update({f"digits, {t}": better if good else worse
                 for t in ("crops", "rotation", "contrast", "magnitude", "flips")})
    rows["clothes, flips"] = better if good else worse
    return rows, {}, {}


def loss_world(good: bool):
    ce = {"probe.epochs_to_accuracy": [1.0, 1.1, 0.9], **acc(0.95, 0.955, 0.96), "loss": [0.1, 0.12, 0.11]}
    l2 = {"probe.epochs_to_accuracy": [3.0, 3.2, 3.1], "probe.epochs_run": 6, **acc(0.90, 0.905, 0.91),
          "loss": [2.0, 1.9, 2.1]}
    return ({"cross-entropy": ce, "L2": l2} if good else {"cross-entropy": l2, "L2": ce}), {}, {}


def mixed_world(name: str):
    """Two seeds from the world where every claim holds, the third from the one where none does: seeds
    that disagree, so every claim must come out inconclusive (facts that are not per seed left unread)."""
    good, bad = WORLDS[name](True), WORLDS[name](False)

    def mix(g, b):
        g = g if isinstance(g, list) else [g] * 3
        b = b if isinstance(b, list) else [b] * 3
        return [g[0], g[1], b[2]]
    rows = {label: {k: mix(v, bad[0][label].get(k, "" if k == "fit" else v)) for k, v in metrics.items()}
            for label, metrics in good[0].items()}
    measured = {label: {k: mix(v, bad[2][label].get(k, v)) for k, v in keys.items()}
                for label, keys in good[2].items() if label != "mnist"}
    if name == "learning-rate":   # a best rate whose seeds straddle the default's
        rows["lr 0.001"] = acc(0.97, 0.97, 0.92)
    return rows, {**good[1], **bad[1]}, measured


WORLDS = {"activations": activations_world, "units": units_world, "init": init_world,
          "learning-rate": learning_rate_world, "preprocessing": preprocessing_world,
          "regularization": regularization_world, "augmentation": augmentation_world, "loss": loss_world}
