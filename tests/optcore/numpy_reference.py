"""Independent float64 numpy transcriptions of OPTIMIZERS.md, one small class per rule.

Written from the equations, not from optcore's code: each ``step`` takes the list of layers
and their gradients and returns the new layers. Per-layer rules loop over the layers in Python.
"""

from __future__ import annotations

import math

import numpy as np


def norm(x):
    return float(np.sqrt(np.sum(x * x)))


def hits_of(opt):
    """Which branches of a rule's min/max/clip/where decided a step (through wrappers)."""
    found = set(getattr(opt, "hits", set()))
    for attr in ("inner", "radam"):
        if hasattr(opt, attr):
            found |= hits_of(getattr(opt, attr))
    return found


class Hits:
    def hit(self, name):
        if not hasattr(self, "hits"):
            self.hits = set()
        self.hits.add(name)


class GD:
    def __init__(self, learning_rate=1e-3):
        self.lr = learning_rate

    def init(self, params):
        pass

    def step(self, params, grads):
        return [p - self.lr * g for p, g in zip(params, grads)]


class Momentum:
    def __init__(self, learning_rate=1e-3, momentum=0.9):
        self.lr, self.a = learning_rate, momentum

    def init(self, params):
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        self.v = [self.a * v - self.lr * g for v, g in zip(self.v, grads)]
        return [p + v for p, v in zip(params, self.v)]


class Nesterov(Momentum):
    def step(self, params, grads):
        new_v = [self.a * v - self.lr * g for v, g in zip(self.v, grads)]
        out = [p - self.a * v + (1 + self.a) * nv for p, v, nv in zip(params, self.v, new_v)]
        self.v = new_v
        return out


class Adagrad(Hits):
    def __init__(self, learning_rate=1e-2, eps=1e-10, initial_accumulator_value=0.0):
        self.lr, self.eps, self.s0 = learning_rate, eps, initial_accumulator_value

    def init(self, params):
        self.s = [np.full_like(p, self.s0) for p in params]

    def step(self, params, grads):
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.s[i] = self.s[i] + g * g
            denom = np.sqrt(self.s[i]) + self.eps
            if np.any(denom == 0):
                self.hit("zero_denominator")
            safe = np.where(denom > 0, denom, 1.0)
            out.append(p - self.lr * np.where(denom > 0, g / safe, 0.0))
        return out


class RMSProp:
    def __init__(self, learning_rate=1e-3, decay=0.9, eps=1e-8, initial="gradient"):
        self.lr, self.decay, self.eps, self.initial = learning_rate, decay, eps, initial

    def init(self, params):
        self.s = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            if self.t == 1 and self.initial == "gradient":
                self.s[i] = g * g  # sigma_0 = |g_0|
            else:
                self.s[i] = self.decay * self.s[i] + (1 - self.decay) * g * g
            out.append(p - self.lr * g / (np.sqrt(self.s[i]) + self.eps))
        return out


class Moments:
    """Adam's bias-corrected moments, shared by the Adam family below."""

    def __init__(self, b1, b2):
        self.b1, self.b2 = b1, b2

    def init(self, params):
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def update(self, grads):
        self.t += 1
        self.m = [self.b1 * m + (1 - self.b1) * g for m, g in zip(self.m, grads)]
        self.v = [self.b2 * v + (1 - self.b2) * g * g for v, g in zip(self.v, grads)]
        m_hat = [m / (1 - self.b1**self.t) for m in self.m]
        v_hat = [v / (1 - self.b2**self.t) for v in self.v]
        return m_hat, v_hat


class Adam:
    def __init__(self, learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0):
        self.lr, self.eps, self.wd = learning_rate, eps, weight_decay
        self.moments = Moments(b1, b2)

    def init(self, params):
        self.moments.init(params)

    def step(self, params, grads):
        m_hat, v_hat = self.moments.update(grads)
        return [
            p - self.lr * (m / (np.sqrt(v) + self.eps) + self.wd * p)
            for p, m, v in zip(params, m_hat, v_hat)
        ]


def AdamW(learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-2):
    return Adam(learning_rate, b1, b2, eps, weight_decay)


def rectifier(t, b2):
    """(rho_t, r_t or None): the paper's rho_t with beta_2^t."""
    rho_inf = 2 / (1 - b2) - 1
    rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
    if rho <= 4:
        return rho, None
    r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
    return rho, r


class RAdam(Hits):
    def __init__(
        self, learning_rate=1e-3, b1=0.9, b2=0.999, eps=1e-8, weight_decay=0.0, threshold=5.0
    ):
        self.lr, self.eps, self.wd, self.threshold = learning_rate, eps, weight_decay, threshold
        self.b2 = b2
        self.moments = Moments(b1, b2)

    def init(self, params):
        self.moments.init(params)

    def direction(self, params, grads):
        m_hat, v_hat = self.moments.update(grads)
        rho, r = rectifier(self.moments.t, self.b2)
        if rho >= self.threshold:
            self.hit("rectified")
            return [
                r * m / (np.sqrt(v) + self.eps) + self.wd * p
                for p, m, v in zip(params, m_hat, v_hat)
            ], r
        self.hit("sgd_fallback")
        return [m + self.wd * p for p, m in zip(params, m_hat)], None

    def step(self, params, grads):
        d, _ = self.direction(params, grads)
        return [p - self.lr * s for p, s in zip(params, d)]


class Lookahead:
    def __init__(self, inner, sync_period=5, slow_step_size=0.5):
        self.inner, self.k, self.alpha = inner, sync_period, slow_step_size

    def init(self, params):
        self.inner.init(params)
        self.slow = [p.copy() for p in params]
        self.t = 0

    def step(self, params, grads):
        fast = self.inner.step(params, grads)
        self.t += 1
        if self.t % self.k == 0:
            self.slow = [s + self.alpha * (f - s) for s, f in zip(self.slow, fast)]
            return [s.copy() for s in self.slow]
        return fast


def Ranger(
    learning_rate=1e-3,
    b1=0.95,
    b2=0.999,
    eps=1e-5,
    weight_decay=0.0,
    threshold=5.0,
    sync_period=6,
    slow_step_size=0.5,
):
    return Lookahead(
        RAdam(learning_rate, b1, b2, eps, weight_decay, threshold), sync_period, slow_step_size
    )


class LARS(Hits):
    def __init__(
        self,
        learning_rate=1.0,
        momentum=0.9,
        weight_decay=0.0,
        trust_coefficient=1e-3,
        exclude_bias=False,
    ):
        self.lr, self.b1, self.wd, self.c = learning_rate, momentum, weight_decay, trust_coefficient
        self.exclude_bias = exclude_bias

    def init(self, params):
        self.m = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        out = []
        for i, (p, g) in enumerate(zip(params, grads)):
            self.m[i] = self.b1 * self.m[i] + (1 - self.b1) * (g + self.wd * p)
            pn, gn = norm(p), norm(g)
            if self.exclude_bias and p.ndim <= 1:
                self.hit("bias_excluded")
                lam = 1.0
            elif pn == 0 or gn == 0:
                self.hit("zero_weight_norm" if pn == 0 else "zero_grad_norm")
                lam = 1.0
            else:
                lam = self.c * pn / (gn + self.wd * pn)
            out.append(p - self.lr * lam * self.m[i])
        return out


class LAMB(Hits):
    def __init__(
        self,
        learning_rate=1e-3,
        b1=0.9,
        b2=0.999,
        eps=1e-6,
        weight_decay=0.0,
        weight_norm_clip=None,
        exclude_bias=False,
    ):
        self.lr, self.eps, self.wd = learning_rate, eps, weight_decay
        self.clip, self.exclude_bias = weight_norm_clip, exclude_bias
        self.moments = Moments(b1, b2)

    def init(self, params):
        self.moments.init(params)

    def step(self, params, grads):
        m_hat, v_hat = self.moments.update(grads)
        out = []
        for p, m, v in zip(params, m_hat, v_hat):
            u = m / (np.sqrt(v) + self.eps) + self.wd * p
            pn, un = norm(p), norm(u)
            if self.clip is not None and pn > self.clip:
                self.hit("weight_norm_clip")
                pn = self.clip
            if self.exclude_bias and p.ndim <= 1:
                self.hit("bias_excluded")
                lam = 1.0
            elif pn == 0 or un == 0:
                self.hit("zero_weight_norm" if pn == 0 else "zero_update_norm")
                lam = 1.0
            else:
                lam = pn / un
            out.append(p - self.lr * lam * u)
        return out


class RectifiedTrust(Hits):
    """The inner step of RangerLARS / Paratrooper: RAdam direction with a bounded trust ratio."""

    def __init__(
        self,
        bounds,
        learning_rate=1e-3,
        b1=0.95,
        b2=0.999,
        eps=1e-6,
        weight_decay=0.0,
        threshold=5.0,
        trust_clip=10.0,
    ):
        self.radam = RAdam(learning_rate, b1, b2, eps, weight_decay, threshold)
        self.bounds, self.lr, self.clip, self.b1, self.b2 = (
            bounds,
            learning_rate,
            trust_clip,
            b1,
            b2,
        )

    def init(self, params):
        self.radam.init(params)

    def step(self, params, grads):
        s_all, r = self.radam.direction(params, grads)
        lo, hi, upper_name = self.bounds(self, self.radam.moments.t, r)
        out = []
        for p, s in zip(params, s_all):
            pn, sn = norm(p), norm(s)
            if pn == 0 or sn == 0:
                self.hit("zero_norm")
                trust = 1.0
            else:
                ratio = pn / sn
                trust = max(lo, min(hi, ratio))  # T = max(lower, min(upper, ratio)), as written
                if trust == lo and ratio != lo:
                    self.hit("lower" if hi >= lo else f"lower_over_{upper_name}")
                elif trust == hi and ratio != hi:
                    self.hit(f"upper_{upper_name}")
                else:
                    self.hit("ratio")
            out.append(p - self.lr * trust * s)
        return out


def _ranger_lars_bounds(opt, t, r):
    return 0.0, opt.clip, "trust_clip"


def _paratrooper_bounds(opt, t, r):
    """(lower, C_t): C_t = 1/(r_t b_t) while rectified, trust_clip before."""
    if r is None:
        return 1.0, opt.clip, "trust_clip"
    b_t = math.sqrt(1 - opt.b2**t) / (1 - opt.b1**t)
    return 1.0, 1.0 / (r * b_t), "C_t"


def _rectified_trust_lookahead(bounds, sync_period=6, slow_step_size=0.5, **hp):
    return Lookahead(RectifiedTrust(bounds, **hp), sync_period, slow_step_size)


def RangerLARS(**hp):
    return _rectified_trust_lookahead(_ranger_lars_bounds, **hp)


def Paratrooper(**hp):
    return _rectified_trust_lookahead(_paratrooper_bounds, **hp)


REFERENCES = {
    "gd": GD,
    "sgd": GD,
    "momentum": Momentum,
    "nesterov": Nesterov,
    "adagrad": Adagrad,
    "rmsprop": RMSProp,
    "adam": Adam,
    "adamw": AdamW,
    "radam": RAdam,
    "ranger": Ranger,
    "lars": LARS,
    "lamb": LAMB,
    "ranger_lars": RangerLARS,
    "paratrooper": Paratrooper,
}


def trajectory(opt, params, grad_fn, steps):
    """The list of parameter lists theta_0 .. theta_steps."""
    params = [np.array(p, dtype=np.float64) for p in params]
    opt.init(params)
    out = [params]
    for _ in range(steps):
        params = opt.step(params, grad_fn(params))
        out.append(params)
    return out
