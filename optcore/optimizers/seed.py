"""The seed's optimizers as optax recipes, with the defaults of OPTIMIZERS.md.

A recipe is a chain of small transforms ending in ``scale_by_learning_rate``, as optax writes
its own aliases. Where optax computes exactly the seed's rule it is used as is (adam, adamw,
lamb's trust ratio, heavy-ball and Nesterov momentum); the rest lives in ``transforms.py``.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import optax

from . import transforms as tx
from .schema import Entry, Hyper

LR_NOTE = "learning rate eta (a schedule may replace it)"


def lr(default: float) -> Hyper:
    return Hyper("learning_rate", default, LR_NOTE, minimum=0.0, exclusive_minimum=True)


def unit(name: str, default: float, description: str, *, low: float = 0.0) -> Hyper:
    return Hyper(name, default, description, minimum=low, maximum=1.0, exclusive_maximum=True)


def nonneg(name: str, default: float, description: str) -> Hyper:
    return Hyper(name, default, description, minimum=0.0)


B1 = unit("b1", 0.9, "decay of the first moment m")
B2 = unit("b2", 0.999, "decay of the second moment v")
# rho_inf = 2/(1-b2) - 1 exceeds 4 only for b2 > 0.6; below that RAdam never rectifies.
B2_RECTIFIED = Hyper(
    "b2",
    0.999,
    "decay of the second moment v (rectification needs b2 > 0.6)",
    minimum=0.6,
    maximum=1.0,
    exclusive_minimum=True,
    exclusive_maximum=True,
)
THRESHOLD = Hyper(
    "threshold", 5.0, "rectify while rho_t >= threshold (paper 4, optax 5)", minimum=4.0
)
WEIGHT_DECAY = nonneg("weight_decay", 0.0, "decoupled weight decay lambda")
SYNC = Hyper(
    "sync_period",
    5,
    "k: fast steps between synchronisations",
    kind="integer",
    minimum=1,
    maximum=100000,
    traced=True,
)
SLOW = Hyper(
    "slow_step_size",
    0.5,
    "alpha: how far the slow weights move towards the fast",
    minimum=0.0,
    maximum=1.0,
    exclusive_minimum=True,
)
TRUST_CLIP = Hyper(
    "trust_clip",
    10.0,
    "upper clamp of the layer-wise trust ratio",
    minimum=0.0,
    exclusive_minimum=True,
)


def with_lr(direction: optax.GradientTransformation, learning_rate) -> optax.GradientTransformation:
    return optax.chain(direction, optax.scale_by_learning_rate(learning_rate))


def _radam_direction(h) -> optax.GradientTransformation:
    return optax.chain(
        tx.scale_by_rectified_adam(h["b1"], h["b2"], h["eps"], h["threshold"]),
        optax.add_decayed_weights(h["weight_decay"]),
    )


def _radam(h):
    return with_lr(_radam_direction(h), h["learning_rate"])


def _ranger(h):
    return tx.lookahead(_radam(h), h["sync_period"], h["slow_step_size"])


def _rectified_trust(h, lower, upper):
    inner = optax.chain(
        _radam_direction(h),
        tx.scale_by_bounded_trust_ratio(lower, upper),
        optax.scale_by_learning_rate(h["learning_rate"]),
    )
    return tx.lookahead(inner, h["sync_period"], h["slow_step_size"])


def _ranger_lars(h):
    return _rectified_trust(h, lambda t: 0.0, lambda t: h["trust_clip"])


def _paratrooper(h):
    def upper(t):
        active, r = tx.rectification(t, h["b2"], h["threshold"], t.dtype)
        rb = r * jnp.sqrt(1 - h["b2"] ** t) / (1 - h["b1"] ** t)
        usable = active & (rb > 0)
        return jnp.where(usable, 1.0 / jnp.where(usable, rb, 1.0), h["trust_clip"])

    return _rectified_trust(h, lambda t: 1.0, upper)


def _ranger_hypers(eps: float, *extra: Hyper) -> tuple[Hyper, ...]:
    """Ranger's hyperparameters (b1 0.95, lookahead k 6), with its eps and any extras."""
    sync = Hyper(
        "sync_period", 6, SYNC.description, kind="integer", minimum=1, maximum=100000, traced=True
    )
    return (
        lr(1e-3),
        unit("b1", 0.95, "decay of the first moment m"),
        B2_RECTIFIED,
        nonneg("eps", eps, "added to sqrt(v_hat)"),
        WEIGHT_DECAY,
        THRESHOLD,
        *extra,
        sync,
        SLOW,
    )


RECTIFIED_TRUST_HYPERS = _ranger_hypers(1e-6, TRUST_CLIP)

GD = Entry(
    "gd",
    "gradient descent",
    "Plain gradient descent: a fixed step against the gradient.",
    (lr(1e-3),),
    lambda h: optax.scale_by_learning_rate(h["learning_rate"]),
    latex=r"\theta_{t+1} = \theta_t - \eta \nabla_\theta F(\theta_t)",
    reference="Cauchy 1847",
)
# sgd is the same rule; its stochasticity comes from the objective's batch_size
SGD = dataclasses.replace(
    GD,
    name="sgd",
    summary="Stochastic gradient descent: the gd rule on minibatch gradients.",
    latex=r"\theta_{t+1} = \theta_t - \eta \nabla_\theta \mathcal{L}_{B_t}(\theta_t)",
    reference="Robbins & Monro 1951",
)

ENTRIES: tuple[Entry, ...] = (
    GD,
    SGD,
    Entry(
        "momentum",
        "gradient descent",
        "Heavy-ball momentum (Polyak), the seed's form.",
        (lr(1e-3), unit("momentum", 0.9, "alpha: how much velocity is kept")),
        lambda h: optax.chain(
            optax.scale_by_learning_rate(h["learning_rate"]), optax.trace(h["momentum"])
        ),
        latex=r"v_t = \alpha v_{t-1} - \eta \nabla_\theta F(\theta_t),\quad "
        r"\theta_{t+1} = \theta_t + v_t,\quad v_0 = 0",
        reference="Polyak 1964",
    ),
    Entry(
        "nesterov",
        "gradient descent",
        "Nesterov momentum in the seed's reparametrised form (no shifted gradient).",
        (lr(1e-3), unit("momentum", 0.9, "alpha: how much velocity is kept")),
        lambda h: optax.chain(
            optax.scale_by_learning_rate(h["learning_rate"]),
            optax.trace(h["momentum"], nesterov=True),
        ),
        latex=r"v_{t+1} = \alpha v_t - \eta \nabla_\theta F(\theta_t),\quad "
        r"\theta_{t+1} = \theta_t - \alpha v_t + (1+\alpha) v_{t+1}",
        reference="Nesterov 1983; Sutskever et al. 2013",
    ),
    Entry(
        "adagrad",
        "adaptive",
        "Adagrad: per-parameter steps scaled by the accumulated squared gradients.",
        (
            lr(1e-2),
            nonneg("eps", 1e-10, "added to sqrt(s); an entry with sqrt(s)+eps = 0 is not updated"),
            nonneg("initial_accumulator_value", 0.0, "s_0"),
        ),
        lambda h: with_lr(
            tx.scale_by_accumulated_rms(h["initial_accumulator_value"], h["eps"]),
            h["learning_rate"],
        ),
        latex=r"s_t = s_{t-1} + g_t^2,\quad \theta_{t+1} = \theta_t - "
        r"\frac{\eta}{\sqrt{s_t} + \epsilon} g_t",
        reference="Duchi, Hazan & Singer 2011",
        notes="optax's adagrad puts eps inside the root and starts s at 0.1; this is the seed's "
        "rule (s_0 = 0, eps outside).",
    ),
    Entry(
        "rmsprop",
        "adaptive",
        "RMSProp: steps scaled by a moving average of squared gradients.",
        (
            lr(1e-3),
            unit("decay", 0.9, "alpha: decay of the squared-gradient average"),
            nonneg("eps", 1e-8, "added to sqrt(s)"),
            Hyper(
                "initial",
                "gradient",
                "'gradient': sigma_0 = |g_0| (seed); 'zero': s_0 = 0 (torch, optax)",
                kind="string",
                choices=("gradient", "zero"),
            ),
        ),
        lambda h: with_lr(
            tx.scale_by_rms_seeded(h["decay"], h["eps"], h["initial"]), h["learning_rate"]
        ),
        latex=r"\sigma_t = \sqrt{\alpha \sigma_{t-1}^2 + (1-\alpha) g_t^2},\quad "
        r"\sigma_0 = |g_0|,\quad \theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t",
        reference="Hinton, Coursera lecture 6e, 2012",
        notes="With initial='zero' the first step is 1/sqrt(1-decay) times larger (3.16x at 0.9).",
    ),
    Entry(
        "adam",
        "adam",
        "Adam: bias-corrected first and second moment estimates.",
        (lr(1e-3), B1, B2, nonneg("eps", 1e-8, "added to sqrt(v_hat)")),
        lambda h: with_lr(optax.scale_by_adam(h["b1"], h["b2"], h["eps"]), h["learning_rate"]),
        latex=r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) "
        r"g_t^2,\ \theta_{t+1} = \theta_t - \eta \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}",
        reference="Kingma & Ba 2014",
    ),
    Entry(
        "adamw",
        "adam",
        "AdamW: Adam with decoupled weight decay.",
        (
            lr(1e-3),
            B1,
            B2,
            nonneg("eps", 1e-8, "added to sqrt(v_hat)"),
            nonneg("weight_decay", 1e-2, "decoupled weight decay lambda"),
        ),
        lambda h: optax.chain(
            optax.scale_by_adam(h["b1"], h["b2"], h["eps"]),
            optax.add_decayed_weights(h["weight_decay"]),
            optax.scale_by_learning_rate(h["learning_rate"]),
        ),
        latex=r"\theta_{t+1} = \theta_t - \eta \left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}"
        r" + \lambda \theta_t\right)",
        reference="Loshchilov & Hutter 2017",
    ),
    Entry(
        "radam",
        "adam",
        "Rectified Adam: Adam with variance rectification, SGD-momentum before it is tractable.",
        (
            lr(1e-3),
            B1,
            B2_RECTIFIED,
            nonneg("eps", 1e-8, "added to sqrt(v_hat)"),
            WEIGHT_DECAY,
            THRESHOLD,
        ),
        _radam,
        latex=r"\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t};\ "
        r"\rho_t \ge 5:\ \theta_{t+1} = \theta_t - \eta\left(r_t \frac{\hat m_t}"
        r"{\sqrt{\hat v_t}+\epsilon} + \lambda\theta_t\right),\ "
        r"\text{else}\ \theta_{t+1} = \theta_t - \eta(\hat m_t + \lambda\theta_t)",
        reference="Liu et al. 2019",
        notes="The seed writes beta_2^2 in rho_t; the paper's (and this) is beta_2^t.",
    ),
    Entry(
        "lookahead",
        "wrapper",
        "Lookahead: k fast steps of an inner optimizer, then the slow "
        "weights move part of the way.",
        (SYNC, SLOW),
        lambda h: tx.lookahead(h["inner"], h["sync_period"], h["slow_step_size"]),
        latex=r"\phi_{t+1} = \phi_t + \alpha(\theta_{t+1,k} - \phi_t),\quad "
        r"\theta_{t+1,0} = \phi_{t+1}",
        reference="Zhang et al. 2019",
        takes_inner=True,
        takes_schedule=False,
    ),
    Entry(
        "ranger",
        "wrapper",
        "Ranger: lookahead around RAdam(W).",
        _ranger_hypers(1e-5),
        _ranger,
        latex=r"\text{lookahead}_{k,\alpha}(\text{RAdamW})",
        reference="Wright 2019 (lessw2020/Ranger-Deep-Learning-Optimizer)",
    ),
    Entry(
        "lars",
        "layer-wise",
        "LARS: momentum SGD with a per-layer trust ratio (seed form).",
        (
            lr(1.0),
            unit("momentum", 0.9, "beta_1: momentum of m"),
            nonneg("weight_decay", 0.0, "delta: weight decay added to the gradient"),
            Hyper(
                "trust_coefficient",
                1e-3,
                "c: scales ||theta|| / (||g|| + delta ||theta||)",
                minimum=0.0,
                exclusive_minimum=True,
            ),
        ),
        lambda h: with_lr(
            tx.scale_by_layerwise_momentum(
                h["momentum"], h["weight_decay"], h["trust_coefficient"]
            ),
            h["learning_rate"],
        ),
        latex=r"m_t = \beta_1 m_{t-1} + (1-\beta_1)(g_t + \delta\theta_t),\ "
        r"\lambda_t = c\frac{\lVert\theta_t\rVert}{\lVert g_t\rVert + \delta\lVert\theta_t"
        r"\rVert},\ \theta_{t+1} = \theta_t - \eta\lambda_t m_t",
        reference="You, Gitman & Ginsburg 2017",
        notes="Defaults: learning_rate 1.0 with trust_coefficient 1e-3 gives steps of about "
        "1e-3 ||theta||; weight_decay 0 keeps the objective's minimum a fixed point. "
        "lambda = 1 where ||theta|| or ||g|| is 0.",
    ),
    Entry(
        "lamb",
        "layer-wise",
        "LAMB: Adam direction plus decay, scaled per layer by ||theta|| / ||update||.",
        (lr(1e-3), B1, B2, nonneg("eps", 1e-6, "added to sqrt(v_hat)"), WEIGHT_DECAY),
        lambda h: optax.chain(
            optax.scale_by_adam(h["b1"], h["b2"], h["eps"]),
            optax.add_decayed_weights(h["weight_decay"]),
            optax.scale_by_trust_ratio(),
            optax.scale_by_learning_rate(h["learning_rate"]),
        ),
        latex=r"u_t = \frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \delta\theta_t,\ "
        r"\theta_{t+1} = \theta_t - \eta \frac{\lVert\theta_t\rVert}{\lVert u_t\rVert} u_t",
        reference="You et al. 2019",
        notes="The seed writes ||r|| + ||delta theta|| in the denominator; this follows the LAMB "
        "paper, ||r + delta theta||. Ratio 1 where a norm is 0.",
    ),
    Entry(
        "ranger_lars",
        "layer-wise",
        "RangerLARS (Over9000): RAdam direction with a clipped "
        "per-layer trust ratio, inside lookahead.",
        RECTIFIED_TRUST_HYPERS,
        _ranger_lars,
        aliases=("ranger_lamb", "over9000"),
        latex=r"s_t = r_t\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \delta\theta_t,\ "
        r"T_t = \mathrm{clip}\left(\frac{\lVert\theta_t\rVert}{\lVert s_t\rVert}, 0, 10"
        r"\right),\ \theta_{t+1} = \theta_t - \eta T_t s_t",
        reference="mgrankin/over9000 (ralamb.py + lookahead), 2019",
    ),
    Entry(
        "paratrooper",
        "layer-wise",
        "Paratrooper: RangerLARS whose trust ratio is clamped to "
        "[1, 1/(r_t b_t)], becoming Ranger over time.",
        RECTIFIED_TRUST_HYPERS,
        _paratrooper,
        latex=r"T_t = \max\left(1, \min\left(\frac{1}{r_t b_t}, \frac{\lVert\theta_t\rVert}"
        r"{\lVert s_t\rVert}\right)\right),\ b_t = \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}",
        reference="Han-Chen 2020 (danielhanchen.github.io, 'State of the art optimizers')",
        notes="Before rectification starts the upper clamp is trust_clip.",
    ),
)
