"""Catalog entries of the seed recipes: ranges, meanings, the rule in LaTeX, and where each
rule differs from the public implementations (torch.optim, pytorch_optimizer, torch-optimizer,
over9000) and by how much. Names, defaults and types come from the recipes' signatures."""

from __future__ import annotations

from . import seed
from .schema import Bounds, Entry, recipe_entry


def _unit(description: str) -> Bounds:
    return Bounds(description, minimum=0.0, maximum=1.0, exclusive_maximum=True)


def _nonneg(description: str) -> Bounds:
    return Bounds(description, minimum=0.0)


COMMON: dict[str, Bounds] = {
    "learning_rate": Bounds(
        "learning rate eta (a schedule may replace it)", minimum=0.0, exclusive_minimum=True
    ),
    "b1": _unit("decay of the first moment m"),
    "b2": _unit("decay of the second moment v"),
    "eps": _nonneg("added to sqrt(v_hat)"),
    "weight_decay": _nonneg("decoupled weight decay lambda"),
    "momentum": _unit("alpha: how much velocity is kept"),
    # rho_inf = 2/(1-b2) - 1 exceeds 4 only for b2 > 0.6; below that RAdam never rectifies.
    "threshold": Bounds("rectify while rho_t >= threshold (paper 4, optax 5)", minimum=4.0),
    "sync_period": Bounds(
        "k: fast steps between synchronisations", minimum=1, maximum=100000, traced=True
    ),
    "slow_step_size": Bounds(
        "alpha: how far the slow weights move towards the fast",
        minimum=0.0,
        maximum=1.0,
        exclusive_minimum=True,
    ),
    "trust_clip": Bounds(
        "upper clamp of the layer-wise trust ratio", minimum=0.0, exclusive_minimum=True
    ),
    "exclude_bias": Bounds(
        "trust ratio 1 on leaves of at most one dimension (biases, norm scales), as the "
        "PyTorch ports and optax's masks do; a test function's one vector is such a leaf"
    ),
}
RECTIFIED = {
    **COMMON,
    "b2": Bounds(
        "decay of the second moment v (rectification needs b2 > 0.6)",
        minimum=0.6,
        maximum=1.0,
        exclusive_minimum=True,
        exclusive_maximum=True,
    ),
}
ADAGRAD = {
    **COMMON,
    "eps": _nonneg("added to sqrt(s); an entry with sqrt(s)+eps = 0 is not updated"),
    "initial_accumulator_value": _nonneg("s_0"),
}
RMSPROP = {
    **COMMON,
    "decay": _unit("alpha: decay of the squared-gradient average"),
    "eps": _nonneg("added to sqrt(s)"),
    "initial": Bounds("'gradient': sigma_0 = |g_0| (seed); 'zero': s_0 = 0 (torch, optax)"),
}
LARS = {
    **COMMON,
    "momentum": _unit("beta_1: momentum of m"),
    "weight_decay": _nonneg("delta: weight decay added to the gradient"),
    "trust_coefficient": Bounds(
        "c: scales ||theta|| / (||g|| + delta ||theta||)", minimum=0.0, exclusive_minimum=True
    ),
}
LAMB = {
    **COMMON,
    "weight_norm_clip": Bounds(
        "clamp ||theta|| to [0, value] in the ratio (null: no clamp, as the paper and optax; "
        "the PyTorch ports use 10)",
        minimum=0.0,
        exclusive_minimum=True,
    ),
}

RADAM_EPS = (
    "eps is added to sqrt(v_hat); torch.optim.RAdam and pytorch_optimizer add it to sqrt(v), "
    "which is eps/sqrt(1-b2^t) on sqrt(v_hat): 12.9x eps at t = 6 and 3.2x at t = 100 with "
    "b2 = 0.999, tending to eps. With eps = 0 the rules coincide (torch's threshold is a strict "
    "rho_t > 5, which switches at the same step t = 6 for b2 = 0.99 and 0.999)."
)
TRUST_PEERS = (
    "The trust ratio applies to every leaf, biases included; the PyTorch ports (kozistr, "
    "solo-learn, SimCLR) skip leaves of at most one dimension: exclude_bias = true does that."
)


def _entries() -> tuple[Entry, ...]:
    return (
        recipe_entry(
            seed.gd,
            COMMON,
            family="gradient descent",
            latex=r"\theta_{t+1} = \theta_t - \eta \nabla_\theta F(\theta_t)",
            reference="Cauchy 1847",
            notes="Identical to torch.optim.SGD without momentum.",
        ),
        recipe_entry(
            seed.sgd,
            COMMON,
            family="gradient descent",
            latex=r"\theta_{t+1} = \theta_t - \eta \nabla_\theta \mathcal{L}_{B_t}(\theta_t)",
            reference="Robbins & Monro 1951",
            notes="The gd rule; the stochasticity comes from the objective's batch_size. "
            "Identical to torch.optim.SGD without momentum.",
        ),
        recipe_entry(
            seed.momentum,
            COMMON,
            family="gradient descent",
            latex=r"v_t = \alpha v_{t-1} - \eta \nabla_\theta F(\theta_t),\quad "
            r"\theta_{t+1} = \theta_t + v_t,\quad v_0 = 0",
            reference="Polyak 1964",
            notes="torch.optim.SGD(momentum) accumulates b = alpha b + g and steps eta b: the same "
            "iterates for a constant eta (v = -eta b), different under a schedule, where the "
            "seed's v keeps the old steps' learning rates.",
        ),
        recipe_entry(
            seed.nesterov,
            COMMON,
            family="gradient descent",
            latex=r"v_{t+1} = \alpha v_t - \eta \nabla_\theta F(\theta_t),\quad "
            r"\theta_{t+1} = \theta_t - \alpha v_t + (1+\alpha) v_{t+1}",
            reference="Nesterov 1983; Sutskever et al. 2013",
            notes="The reparametrised form equals torch.optim.SGD(momentum, nesterov=True) and "
            "optax.sgd(nesterov=True) for a constant eta: theta_{t+1} = theta_t - eta g + "
            "alpha v_{t+1}.",
        ),
        recipe_entry(
            seed.adagrad,
            ADAGRAD,
            family="adaptive",
            latex=r"s_t = s_{t-1} + g_t^2,\quad \theta_{t+1} = \theta_t - "
            r"\frac{\eta}{\sqrt{s_t} + \epsilon} g_t",
            reference="Duchi, Hazan & Singer 2011",
            notes="Identical to torch.optim.Adagrad (lr_decay 0). optax.adagrad puts eps inside "
            "the root and starts s at 0.1: its first step is |g|/sqrt(g^2 + 0.1) of ours.",
        ),
        recipe_entry(
            seed.rmsprop,
            RMSPROP,
            family="adaptive",
            latex=r"\sigma_t = \sqrt{\alpha \sigma_{t-1}^2 + (1-\alpha) g_t^2},\quad "
            r"\sigma_0 = |g_0|,\quad \theta_{t+1} = \theta_t - \frac{\eta}{\sigma_t} g_t",
            reference="Hinton, Coursera lecture 6e, 2012",
            notes="sigma_0 = |g_0| (the seed); torch.optim.RMSprop and optax.rmsprop start "
            "from s_0 = 0, so their first step is 1/sqrt(1-decay) times larger (3.16x at 0.9, "
            "10x at torch's default 0.99) and the gap fades as decay^t. initial = 'zero' "
            "gives torch's rule exactly (alpha = decay).",
        ),
        recipe_entry(
            seed.adam,
            COMMON,
            family="adam",
            latex=r"m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\ v_t = \beta_2 v_{t-1} + (1-\beta_2) "
            r"g_t^2,\ \theta_{t+1} = \theta_t - \eta \frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}",
            reference="Kingma & Ba 2014",
            notes="Identical to torch.optim.Adam and optax.adam.",
        ),
        recipe_entry(
            seed.adamw,
            COMMON,
            family="adam",
            latex=r"\theta_{t+1} = \theta_t - \eta \left(\frac{\hat m_t}{\sqrt{\hat v_t} + "
            r"\epsilon} + \lambda \theta_t\right)",
            reference="Loshchilov & Hutter 2017",
            notes="Identical to torch.optim.AdamW (same default weight_decay 1e-2; optax's "
            "default is 1e-4).",
        ),
        recipe_entry(
            seed.radam,
            RECTIFIED,
            family="adam",
            latex=r"\rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t};\ "
            r"\rho_t \ge 5:\ \theta_{t+1} = \theta_t - \eta\left(r_t \frac{\hat m_t}"
            r"{\sqrt{\hat v_t}+\epsilon} + \lambda\theta_t\right),\ "
            r"\text{else}\ \theta_{t+1} = \theta_t - \eta(\hat m_t + \lambda\theta_t)",
            reference="Liu et al. 2019",
            notes="The seed writes beta_2^2 in rho_t; the paper's (and this) is beta_2^t. "
            + RADAM_EPS
            + " The official code and pytorch_optimizer skip the steps before rectification "
            "instead of taking the SGD-momentum step.",
        ),
        recipe_entry(
            seed.lookahead,
            COMMON,
            family="wrapper",
            latex=r"\phi_{t+1} = \phi_t + \alpha(\theta_{t+1,k} - \phi_t),\quad "
            r"\theta_{t+1,0} = \phi_{t+1}",
            reference="Zhang et al. 2019",
            notes="The slow weights start at theta_0 (pytorch_optimizer, lessw2020); over9000 "
            "and timm create them at the first sync, so their first sync is a no-op.",
        ),
        recipe_entry(
            seed.ranger,
            RECTIFIED,
            family="wrapper",
            latex=r"\text{lookahead}_{k,\alpha}(\text{RAdamW})",
            reference="Wright 2019 (lessw2020/Ranger-Deep-Learning-Optimizer)",
            notes=RADAM_EPS + " lessw2020's Ranger also centralises gradients of tensors with "
            "more than one dimension (use_gc); that never applies to a 1-D test function.",
        ),
        recipe_entry(
            seed.lars,
            LARS,
            family="layer-wise",
            latex=r"m_t = \beta_1 m_{t-1} + (1-\beta_1)(g_t + \delta\theta_t),\ "
            r"\lambda_t = c\frac{\lVert\theta_t\rVert}{\lVert g_t\rVert + \delta\lVert\theta_t"
            r"\rVert},\ \theta_{t+1} = \theta_t - \eta\lambda_t m_t",
            reference="You, Gitman & Ginsburg 2017",
            notes="Defaults: learning_rate 1.0 with trust_coefficient 1e-3 gives steps of about "
            "1e-3 ||theta||; weight_decay 0 keeps the objective's minimum a fixed point. "
            "lambda = 1 where ||theta|| or ||g|| is 0. optax.lars divides by ||g + delta theta|| "
            "and applies momentum after the scaling; torch-optimizer's LARS does no scaling at "
            "all when weight_decay is 0. " + TRUST_PEERS,
        ),
        recipe_entry(
            seed.lamb,
            LAMB,
            family="layer-wise",
            latex=r"u_t = \frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \delta\theta_t,\ "
            r"\theta_{t+1} = \theta_t - \eta \frac{\lVert\theta_t\rVert}{\lVert u_t\rVert} u_t",
            reference="You et al. 2019",
            notes="The seed writes ||r|| + ||delta theta|| in the denominator; this follows the "
            "LAMB paper and optax, ||r + delta theta||. Ratio 1 where a norm is 0. "
            "torch-optimizer and pytorch_optimizer clamp ||theta|| at 10 (weight_norm_clip = 10 "
            "reproduces it; it only matters for layers of norm above 10), and torch-optimizer "
            "does not bias-correct m and v by default. " + TRUST_PEERS,
        ),
        recipe_entry(
            seed.ranger_lars,
            RECTIFIED,
            family="layer-wise",
            aliases=("ranger_lamb", "over9000"),
            latex=r"s_t = r_t\frac{\hat m_t}{\sqrt{\hat v_t}+\epsilon} + \delta\theta_t,\ "
            r"T_t = \max\left(0, \min\left(10, \frac{\lVert\theta_t\rVert}{\lVert s_t\rVert}"
            r"\right)\right),\ \theta_{t+1} = \theta_t - \eta T_t s_t",
            reference="mgrankin/over9000 (ralamb.py + lookahead), 2019",
            notes="The ratio clipped to [0, trust_clip] is the blog's and over9000's first "
            "version (2019-08-27); the final ralamb.py divides min(||theta||, 10) by the norm of "
            "the candidate weights theta - step, a ratio near 1, so it behaves close to Ranger. "
            + RADAM_EPS,
        ),
        recipe_entry(
            seed.paratrooper,
            RECTIFIED,
            family="layer-wise",
            latex=r"T_t = \max\left(1, \min\left(C_t, \frac{\lVert\theta_t\rVert}"
            r"{\lVert s_t\rVert}\right)\right),\ C_t = \frac{1}{r_t b_t},\ "
            r"b_t = \frac{\sqrt{1-\beta_2^t}}{1-\beta_1^t}",
            reference="Han-Chen 2020 (danielhanchen.github.io, 'State of the art optimizers')",
            notes="Before rectification starts C_t = trust_clip. When C_t < 1 (b2 < b1 makes "
            "r_t b_t > 1) T is 1. The author's page puts eps inside sqrt(v + eps) and adds the "
            "weight decay twice (to g and to the direction); here it is added once, to the "
            "direction. No library ships it.",
        ),
    )


ENTRIES: tuple[Entry, ...] = _entries()
