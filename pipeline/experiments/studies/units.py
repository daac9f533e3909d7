"""Inside the hidden units: saturation, vanishing gradients, dead units, noise and self-normalization."""
from __future__ import annotations

from ...evaluation import plots
from ..sweeps import Point
from .base import SEEDS, Claim, Plan, Results, Study, register_study
from .measure import deep_net_statistics, probe_batch
from .rules import Stat, at_least, at_most, both, exceeds, given, per_seed, within

SIZES = {  # mode -> (training images incl. validation, validation, epochs, width, deep depth, probe width)
    "smoke": (1500, 500, 1, 32, 6, 32),
    "default": (12000, 2000, 2, 128, 16, 256),
}
SIZES["full"] = SIZES["default"]   # the default's budgets on five seeds (base.SEEDS)
HIGH_RATES, RATE, NOISE, CLIP = (0.1, 0.05, 0.03), 0.01, 0.5, 1.0
HIGH_RATE = HIGH_RATES[0]   # the lecture's large updates: where ReLU is judged
LIVING = ("leaky_relu", "elu", "maxout")
CLIPPED = f", clipped to {CLIP:g}"   # the label of the second high-rate condition
CLIPPED_TOO = ("relu", "leaky_relu")  # the activations run in it
LIVES = 0.01   # "will not die": at most 1% of a trained network's units dead
LIVES_QUANTITY = ("the same fraction for {} after SGD at the highest of the high rates where no seed diverged "
                  "(unclipped), at most 1%, judged where ReLU units died at that rate")
FRESH = {  # label -> options of a fresh deep MLP (no training)
    "sigmoid": {"activation": "sigmoid"},
    "tanh": {"activation": "tanh"},
    "relu": {"activation": "relu"},
    "leaky_relu": {"activation": "leaky_relu"},
    "tanh, large init": {"activation": "tanh", "initializer": "small_random", "init_std": 0.2},
    "sigmoid, large init": {"activation": "sigmoid", "initializer": "small_random", "init_std": 0.5},
    "relu, large init": {"activation": "relu", "initializer": "small_random", "init_std": 0.2},
    "selu": {"activation": "selu"},
}


@register_study
class Units(Study):
    """What happens inside the hidden units. Fresh deep MLPs (no training, one per seed) show how
    gradients reach the first layer, whether outputs are zero-centered, how many unit values sit where
    the activation's derivative is below 0.01 (saturated), and whether SELU keeps the scale through the
    layers. Trained MLPs show dead units (derivative exactly zero for every one of 1,000 training images,
    so no gradient ever reaches their weights) after SGD at a rate high enough to kill ReLU units,
    robustness of ELU and Leaky ReLU to input noise, and SELU against ReLU in a deep net without
    normalization."""

    name = "units"
    title = "Inside the units: saturation, dead units, self-normalization"
    claims = {
        "sigmoid-vanishing": Claim("Saturated sigmoid units kill gradients: the first layers of a deep net barely "
                                   "learn", "where sigmoid units saturate (init std 0.5): the saturated fraction of "
                                   "unit values (at least 20%), and the kernel gradient per unit of mostly saturated "
                                   "units over mostly unsaturated ones (at most 0.1)", "sigmoid-kills"),
        "tanh-saturated": Claim("tanh still kills gradients when saturated",
                                "with too large an init (std 0.2): the saturated fraction of unit values, and the "
                                "kernel gradient per unit of mostly saturated units over mostly unsaturated ones",
                                "tanh-kills"),
        "sigmoid-not-centered": Claim("Sigmoid outputs are not zero-centered; tanh outputs are",
                                      "mean first-layer output at init: sigmoid minus |tanh|", "sigmoid-centered",
                                      construction="sigmoid's outputs lie in (0, 1), so their mean is positive; "
                                                   "tanh is odd, so its mean over centred inputs is about 0"),
        "leaky-centered": Claim("Leaky ReLU is zero-centred (the notes' reason why its units do not die)",
                                "mean over std of the first hidden layer's outputs at init (tanh: about 0), at most "
                                "0.1", "leaky-centered"),
        "relu-no-saturation": Claim("ReLU does not saturate in the positive region",
                                    "with too large an init (std 0.2, where tanh's values saturate): the saturated "
                                    "fraction of ReLU's unit values with a positive output, at most 1%",
                                    "relu-no-saturation", construction="ReLU's slope is 1 for every positive input"),
        "relu-not-centered": Claim("ReLU outputs are not zero-centred",
                                   "mean over std of the first hidden layer's outputs at init, at least 0.1 (the bar "
                                   "Leaky ReLU is held to from the other side)", "relu-not-centered",
                                   construction="ReLU's outputs are never negative"),
        "relu-dies": Claim("ReLU units can die at a high learning rate: they never activate again",
                           "fraction of units with zero derivative for every training image after SGD at a high rate, "
                           "unclipped (the lecture's large updates; clipped shown beside it), minus the larger of two "
                           "controls (at init, after SGD at a low rate), at least 1 point", "relu-dies"),
        "leaky_relu-lives": Claim("Leaky ReLU units do not die", LIVES_QUANTITY.format("Leaky ReLU"), "leaky-lives"),
        "elu-lives": Claim("ELU units do not die", LIVES_QUANTITY.format("ELU"), "elu-lives",
                           "the notes say \"all benefits of ReLU\"; the slides say ELU does not die"),
        "maxout-lives": Claim("Maxout units do not die", LIVES_QUANTITY.format("maxout"), "maxout-lives"),
        "elu-noise": Claim("ELU's negative saturation adds some robustness to noise compared with Leaky ReLU",
                           f"validation accuracy lost to Gaussian input noise (std {NOISE} of a pixel's std)",
                           "elu-noise", "the slides: robustness to noise in the deactivation state; measured here "
                                        "as accuracy under input noise"),
        "selu-normalizes": Claim("SELU is self-normalizing: activations keep their scale through the layers",
                                 "std of the last hidden layer's outputs over the first's at init", "selu",
                                 construction="SELU's constants make mean 0, variance 1 a fixed point under "
                                              "LeCun-normal init: its derivation"),
        "selu-deep": Claim("SELU works better for deep networks: they train without batch normalization",
                           "best validation accuracy of a deep MLP without normalization, SELU minus ReLU (He init)",
                           "selu"),
    }

    def plan(self, mode: str, overrides: dict | None = None) -> Plan:
        limit, val, epochs, width, depth, _ = SIZES[mode]
        base = {"model.name": "mlp_deep", "model.depth": 4, "model.width": width, "train.optimizer": "sgd",
                "train.momentum": 0.9, "train.lr_schedule": "constant", "train.learning_rate": RATE,
                "train.epochs": epochs, "train.batch_size": 64, "data.limit_train": limit,
                "data.validation_size": val}
        dead = ({"name": "dead_units"},)
        points = [Point(rated(a, lr), {"model.activation": a, "train.learning_rate": lr}, dead)
                  for a in ("relu",) + LIVING for lr in HIGH_RATES]
        points += [Point(rated(a, HIGH_RATE) + CLIPPED, {"model.activation": a, "train.learning_rate": HIGH_RATE,
                                                         "train.clip_norm": CLIP}, dead) for a in CLIPPED_TOO]
        points += [Point("relu, low rate", {"model.activation": "relu"}, dead)]
        points += [Point(a, {"model.activation": a}, ({"name": "noisy_eval", "std": NOISE},))
                   for a in ("elu", "leaky_relu")]
        points += [Point(f"{a}, deep", {"model.activation": a, "model.depth": depth}) for a in ("selu", "relu")]
        return Plan(base, points, f"{(limit or 60000) - val} training images, {epochs} epoch(s) of SGD (momentum "
                                  f"0.9) at {RATE:g} (dead units: at {', '.join(map(str, HIGH_RATES))} unclipped, and, "
                                  f"labelled, ReLU and Leaky ReLU at {HIGH_RATE:g} with gradients clipped to norm "
                                  f"{CLIP:g}), 4-layer MLPs of {width} units ({depth} layers for the deep ones)")

    def measurements(self, mode: str, overrides: dict) -> dict:
        limit, val, _, _, _, probe_width = SIZES[mode]
        x, y, classes = probe_batch(overrides, 256, {"data.limit_train": limit, "data.validation_size": val})
        return deep_net_statistics(x, y, classes, SEEDS[mode], depth=8, width=probe_width, nets=FRESH)

    def findings(self, r: Results) -> list:
        out = []
        g = {k: r.stat(k, "grad_first_over_last") for k in FRESH}
        saturated = r.stat("sigmoid, large init", "saturated_fraction")
        weaker = r.stat("sigmoid, large init", "saturated_unit_gradient")
        out.append(self.found("sigmoid-vanishing", f"sigmoid, init std 0.5: saturated unit values "
                                                   f"{saturated.show(3, 100, '%')} (Glorot: "
                                                   f"{r.stat('sigmoid', 'saturated_fraction').show(3, 100, '%')}); "
                                                   f"gradient per saturated unit over an unsaturated one "
                                                   f"{weaker.show(3)}. At Glorot init, where almost nothing saturates, "
                                                   f"first/last gradient norm: sigmoid {g['sigmoid'].show(3)}, ReLU "
                                                   f"{g['relu'].show(3)} (sigmoid's slope is at most 1/4 per layer)",
                              both(at_least(saturated, 0.2, "saturated fraction per seed"),
                                   at_most(weaker, 0.1, "gradient ratio per seed"))))
        saturated = r.stat("tanh, large init", "saturated_fraction")
        weaker = r.stat("tanh, large init", "saturated_unit_gradient")
        out.append(self.found("tanh-saturated", f"saturated unit values {saturated.show(3, 100, '%')} (Glorot: "
                                                f"{r.stat('tanh', 'saturated_fraction').show(3, 100, '%')}); "
                                                f"gradient per saturated unit over an unsaturated one {weaker.show(3)}",
                              both(at_least(saturated, 0.2, "saturated fraction per seed"),
                                   at_most(weaker, 0.1, "gradient ratio per seed"))))
        m_sig, m_tanh = r.stat("sigmoid", "first_layer_mean"), r.stat("tanh", "first_layer_mean")
        gap = per_seed(lambda s, t: s - abs(t), m_sig, m_tanh)
        out.append(self.found("sigmoid-not-centered", f"mean first-layer output at init: sigmoid {m_sig.show(3)}, "
                                                      f"tanh {m_tanh.show(3)}", at_least(gap, 0.3)))
        leaky = r.stat("leaky_relu", "first_layer_mean_over_std")
        out.append(self.found("leaky-centered", f"first-layer mean over std at init: Leaky ReLU {leaky.show(3)}, tanh "
                                                f"{r.stat('tanh', 'first_layer_mean_over_std').show(3)}",
                              at_most(leaky.map(abs), 0.1)))
        positive = {a: r.stat(f"{a}, large init", "positive_saturated_fraction") for a in ("relu", "tanh")}
        out.append(self.found("relu-no-saturation", f"init std 0.2: saturated share of positive unit values: ReLU "
                                                    f"{positive['relu'].show(3, 100, '%')}, tanh "
                                                    f"{positive['tanh'].show(3, 100, '%')}",
                              at_most(positive["relu"], 0.01)))
        relu = r.stat("relu", "first_layer_mean_over_std")
        out.append(self.found("relu-not-centered", f"first-layer mean over std at init: ReLU {relu.show(3)}",
                              at_least(relu, 0.1)))
        out += self._dead_units(r)
        drop = {a: r.stat(a, "probe.noise_accuracy_drop") for a in ("elu", "leaky_relu")}
        out.append(self.found("elu-noise", f"accuracy lost to noise: ELU {drop['elu'].show(3, 100, ' pt')}, Leaky ReLU "
                                           f"{drop['leaky_relu'].show(3, 100, ' pt')}",
                              exceeds(drop["leaky_relu"], drop["elu"])))
        selu = r.stat("selu", "act_std_last_over_first")
        out.append(self.found("selu-normalizes", f"last/first hidden output std at init: SELU {selu.show(3)}, "
                                                 "ReLU (He) "
                                                 f"{r.stat('relu', 'act_std_last_over_first').show(3)}",
                              within(selu, 0.5, 2.0)))
        val = {a: r.stat(f"{a}, deep", "best_val_accuracy") for a in ("selu", "relu")}
        out.append(self.trained(r, "selu-deep", f"deep MLP best validation accuracy: SELU "
                                                f"{val['selu'].show(3, 100, '%')}, ReLU "
                                                f"{val['relu'].show(3, 100, '%')}",
                                exceeds(val["selu"], val["relu"]), "selu, deep"))
        return out

    def _dead_units(self, r: Results) -> list:
        """ReLU dying as the lecture means it (large updates: SGD at the high rate, unclipped; clipped shown
        beside it); each living activation judged at the highest rate of :data:`HIGH_RATES` where none of its
        seeds diverged, given that ReLU units died at that same rate."""
        low = self._trained(r, "relu, low rate", "probe.dead_fraction")

        def dies(label: str) -> tuple:
            dead, at_init = self._trained(r, label, "probe.dead_fraction"), r.stat(label, "probe.dead_fraction_init")
            excess = per_seed(lambda h, i, lo: h - max(i, lo), dead, at_init, low)
            return (at_least(excess, 0.01, f"ReLU's dead fraction at {label[6:]} over the controls per seed"),
                    f"{dead.show(3, 100, '%')} (at init {at_init.show(3, 100, '%')})")
        relu_dies, unclipped = dies(rated("relu", HIGH_RATE))
        _, clipped = dies(rated("relu", HIGH_RATE) + CLIPPED)
        out = [self.found("relu-dies", f"dead ReLU units after SGD at {HIGH_RATE:g}: unclipped {unclipped}; "
                                       f"{CLIPPED[2:]} {clipped}; after SGD at {RATE:g} {low.show(3, 100, '%')}",
                          relu_dies)]
        for a in LIVING:
            rate = next((lr for lr in HIGH_RATES if not r.diverged(rated(a, lr))), None)
            if rate is None:
                out.append(self.found(f"{a}-lives", f"{a} diverged at every rate tried unclipped "
                                                    f"({', '.join(map(str, HIGH_RATES))})", at_most(Stat(), LIVES)))
                continue
            dead = self._trained(r, rated(a, rate), "probe.dead_fraction")
            relu = self._trained(r, rated("relu", rate), "probe.dead_fraction")
            tried = [f"{lr:g}" for lr in HIGH_RATES if lr > rate]
            clipped_dead = self._trained(r, rated(a, HIGH_RATE) + CLIPPED, "probe.dead_fraction")
            out.append(self.found(f"{a}-lives", f"dead {a} units after SGD at {rate:g}, unclipped"
                                                + (f" (it diverged at {', '.join(tried)})" if tried else "")
                                                + f": {dead.show(3, 100, '%')} (ReLU there {relu.show(3, 100, '%')})"
                                                + (f"; {CLIPPED[2:]} at {HIGH_RATE:g}: {clipped_dead.show(3, 100, '%')}"
                                                   if a in CLIPPED_TOO else ""),
                                  given(at_most(dead, LIVES), dies(rated("relu", rate))[0])))
        return out

    @staticmethod
    def _trained(r: Results, label: str, key: str) -> Stat:
        """``key`` over the seeds that trained to the end (a diverged network has no dead or live units)."""
        rows = [row for row in r.seeds_of(label) if row.fit != "diverged"]
        return Stat.of([row.metric(key) for row in rows], [row.label.rsplit("#", 1)[-1] for row in rows])

    def figures(self, r: Results) -> dict:
        high = [rated(a, lr) for a in ("relu",) + LIVING for lr in HIGH_RATES]
        high += [rated(a, HIGH_RATE) + CLIPPED for a in CLIPPED_TOO] + ["relu, low rate"]
        return {
            "dead_units.png": ("Dead units after SGD at high rates (unclipped; clipped where labelled) and at the "
                               "low-rate control (mean and range; a diverged condition has none)",
                               r.bars(high, "probe.dead_fraction", "dead fraction")),
            "gradients.png": ("First/last-layer gradient norm at init, fresh deep MLPs",
                              r.bars(list(FRESH), "grad_first_over_last", "first / last", log_y=True)),
            "saturation.png": ("Fraction of unit values with derivative below 0.01 at init",
                               r.bars(list(FRESH), "saturated_fraction", "saturated fraction")),
            "noise.png": ("Validation accuracy lost to input noise", plots.bars(
                {a: r.metric(a, "probe.noise_accuracy_drop") for a in ("elu", "leaky_relu")}, "accuracy drop")),
        }


def rated(activation: str, rate: float) -> str:
    """The label of a dead-unit condition: ``relu, rate 0.1``."""
    return f"{activation}, rate {rate:g}"
