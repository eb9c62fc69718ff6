"""Linear recurrences over whole sequences: the engine of the cells that train in parallel
(minGRU, minLSTM: Feng et al. 2024; the LRU: Orvieto et al. 2023).

Every such cell reduces to, per channel (batch row × unit),

    h_t = a_t ⊙ h_{t−1} + b_t        a_t, b_t functions of x_t only (no W_hh)

with a_t, b_t real or complex (the LRU), and a masked step written as a_t = 1, b_t = 0 (the
state is carried). Its backward is the same recurrence run in reverse on the adjoint
μ_t = ∂L/∂h_t (g_t the gradient arriving at h_t from outside the recurrence):

    μ_t = g_t + conj(a_{t+1}) ⊙ μ_{t+1}      μ_T = g_T          (the reverse scan)
    ∂L/∂a_t = μ_t ⊙ conj(h_{t−1}),  ∂L/∂b_t = μ_t,  ∂L/∂h_0 = conj(a_1) ⊙ μ_1

(conj is the identity for real a; for complex numbers ∂L/∂z means ∂L/∂Re z + i ∂L/∂Im z.)
Three exact ways to run the recurrence, all on arrays a, b (T, B, N) and h0 (B, N):

    sequential_scan(a, b, h0)       the time loop, each step one vector op over the B·N
                                    channels: T steps of O(B·N) work
    chunked_scan(a, b, h0)          the two-level parallel scan (Blelloch's idea with two levels,
                                    blocks of C ≈ √T steps): scan every block from zero at once
                                    (a loop of C steps over all T/C blocks), the cumulative
                                    products of a inside each block, then the carries between
                                    blocks (T/C steps) and one fix-up h += P ⊙ carry. Only
                                    products, no division: nothing underflows that matters.
    log_scan(log_a, log_b, h0)      Heinsen 2023, the parallel form of minGRU/minLSTM: for real
                                    a_t > 0, b_t > 0, in chunks of CHUNK steps carrying h:
                                        a*_t = Σ_{k≤t} log a_k                   (cumsum)
                                        h_t = exp(a*_t) h_s + exp(a*_t + logcumsumexp_t(log b − a*))
                                    h_s the state entering the chunk (any sign). Computed in
                                    float64: a*_t and the logcumsumexp cancel, leaving an error
                                    of |a*_t|·ε, which float32 would make 1e-4 at a*_t ≈ −1000.

`reverse_scan(a, g, carry, parallel)` is the backward (sequential or chunked; the adjoint is
signed, so it never goes through logarithms), stretch by stretch from the last. On a CPU the
B·N channels already fill the vector units, so the time loop is memory-bound and the parallel
forms do more work for the same result: the cells choose by `mode` (docs/parallel-rnn.md has
the measurements).
"""

from __future__ import annotations

import math

import numpy as np

Array = np.ndarray

#: time steps per chunk of log_scan (its float64 temporaries are CHUNK × B × N)
CHUNK = 256


def sequential_scan(a: Array, b: Array, h0: Array, out: Array | None = None) -> Array:
    """h_t = a_t ⊙ h_{t−1} + b_t step by step: a (T, B, N) or broadcastable to b's shape,
    b (T, B, N), h0 (B, N). Returns every h_t (T, B, N) (in `out` when given)."""
    hs = np.empty(b.shape, dtype=np.result_type(a, b, h0)) if out is None else out
    h = h0
    with np.errstate(under="ignore"):
        for t in range(b.shape[0]):
            np.multiply(a[t], h, out=hs[t])
            hs[t] += b[t]
            h = hs[t]
    return hs


def chunked_scan(a: Array, b: Array, h0: Array, block: int | None = None) -> Array:
    """The same h_t (T, B, N) by the two-level parallel scan over blocks of `block` steps
    (default ⌈√T⌉): within-block scans from zero and cumulative products of a for all blocks
    at once, then the carries between blocks, then h = h̃ + P ⊙ carry."""
    T = b.shape[0]
    C = max(1, math.isqrt(T - 1) + 1) if block is None else block
    n = -(-T // C)  # blocks
    dtype = np.result_type(a, b, h0)
    shape = (n * C, *b.shape[1:])
    a_p = np.ones(shape, dtype)  # padded with a = 1, b = 0 (steps that carry the state)
    b_p = np.zeros(shape, dtype)
    a_p[:T], b_p[:T] = a, b
    a3, b3 = a_p.reshape(n, C, *b.shape[1:]), b_p.reshape(n, C, *b.shape[1:])  # (n, C, B, N)
    with np.errstate(under="ignore"):
        local = np.empty_like(b3)  # h̃: each block scanned from h = 0
        prod = np.empty_like(a3)  # P: Π a inside the block up to each step
        local[:, 0], prod[:, 0] = b3[:, 0], a3[:, 0]
        for j in range(1, C):
            np.multiply(a3[:, j], local[:, j - 1], out=local[:, j])
            local[:, j] += b3[:, j]
            np.multiply(a3[:, j], prod[:, j - 1], out=prod[:, j])
        carries = np.empty((n, *b.shape[1:]), dtype)  # the state entering each block
        h = h0
        for k in range(n):
            carries[k] = h
            h = prod[k, -1] * h + local[k, -1]
        local += prod * carries[:, None]
    return local.reshape(shape)[:T]


def log_scan(log_a: Array, log_b: Array, h0: Array, chunk: int = CHUNK) -> Array:
    """Heinsen's log-space scan for a_t = exp(log_a) > 0, b_t = exp(log_b) ≥ 0 (log_b may be
    −inf): h (T, B, N) in log_a's dtype, computed in float64 chunk by chunk."""
    T = log_a.shape[0]
    out = np.empty(log_a.shape, dtype=np.result_type(log_a, h0))
    h = h0.astype(np.float64)
    with np.errstate(under="ignore"):
        for s in range(0, T, chunk):
            A = np.cumsum(log_a[s : s + chunk], axis=0, dtype=np.float64)  # (C, B, N) a*_t
            L = np.logaddexp.accumulate(log_b[s : s + chunk] - A, axis=0)  # log Σ b_k/A_k
            hc = np.exp(A + L)
            hc += np.exp(A) * h
            out[s : s + chunk] = hc
            h = hc[-1]
    return out


def scan(a: Array, b: Array, h0: Array, parallel: bool) -> Array:
    """chunked_scan if parallel, else sequential_scan."""
    return chunked_scan(a, b, h0) if parallel else sequential_scan(a, b, h0)


def adjoint_scan(a: Array, g: Array, parallel: bool) -> tuple[Array, Array]:
    """reverse_scan over a whole sequence: μ (T, B, N) and ∂L/∂h_0 (B, N)."""
    return reverse_scan(a, g, None, parallel)


def reverse_scan(a: Array, g: Array, carry: Array | None, parallel: bool) -> tuple[Array, Array]:
    """The backward of h_t = a_t h_{t−1} + b_t over a stretch of steps (the whole sequence, or
    one chunk of it taken last to first): a (T, B, N) the forward's coefficients, g (T, B, N)
    the gradients arriving at each h_t from outside, carry = conj(a_T) μ_T from the steps after
    the stretch (None: it ends the sequence). Returns μ (T, B, N), the total gradient at every
    h_t (= ∂L/∂b_t), and conj(a_0) μ_0: ∂L/∂h_{−1}, the carry for the stretch before (for the
    first stretch ∂L/∂h_0)."""
    conj = np.conj if np.iscomplexobj(a) else (lambda v: v)
    dtype = np.result_type(a, g)
    if not parallel:
        mu = np.empty(g.shape, dtype)
        c = np.zeros(g.shape[1:], dtype) if carry is None else carry
        with np.errstate(under="ignore"):
            for t in range(g.shape[0] - 1, -1, -1):
                np.add(g[t], c, out=mu[t])
                c = conj(a[t]) * mu[t]
        return mu, c
    a_next = np.empty(g.shape, dtype)  # conj(a_{t+1}); the last step's carry goes into g
    a_next[:-1] = conj(a[1:])
    a_next[-1] = 0.0
    g_in = np.array(g, dtype=dtype)
    if carry is not None:
        g_in[-1] += carry
    zero = np.zeros(g.shape[1:], dtype)
    mu = chunked_scan(a_next[::-1], g_in[::-1], zero)[::-1]
    return mu, conj(a[0]) * mu[0]


def softplus(x: Array) -> Array:
    """log(1 + eˣ) without overflow: max(x, 0) + log1p(e^−|x|)."""
    with np.errstate(under="ignore"):
        return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


def g_positive(v: Array) -> tuple[Array, Array]:
    """The paper's positive candidate activation and its derivative:
    g(v) = v + ½ (v ≥ 0), σ(v) (v < 0); g'(v) = 1, σ(v)(1 − σ(v)).
    Written as g = σ(min(v, 0)) + max(v, 0), which is both branches at once."""
    s = np.minimum(v, 0.0)
    s *= 0.5
    np.tanh(s, out=s)
    s += 1.0
    s *= 0.5  # σ(min(v, 0))
    dg = s * (1.0 - s)
    np.copyto(dg, 1.0, where=v >= 0)
    s += np.maximum(v, 0.0)
    return s, dg


def log_g_positive(v: Array) -> Array:
    """log g(v): log(v + ½) for v ≥ 0, −softplus(−v) below."""
    return np.where(v >= 0, np.log(np.maximum(v, 0.0) + 0.5), -softplus(-v))
