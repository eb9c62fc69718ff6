"""The math core: one module per cell family, pure functions over whole sequences.

Every family provides
    <family>_step(x_t, state, params)            one step, written like the equations
    forward(params, x, states, mask=None, recurrent_mask=None, ...)
        -> (outputs, final_states, cache)
    backward(cache, d_outputs, d_final_states) -> (dx, d_initial_states, grads)
    states_at(cache, t) -> the states after step t of that forward (for truncated BPTT)
Sequences are time-major inside the core: x is (T, B, I), outputs (T, B, ·); the layers in
rnnlab.layers take batch-first input and transpose. Optional entries take the layers' layout
instead (only lstm has them: its compiled loops read and write (B, T, ·) in place, saving the
layer's four transposing copies per training step; its NumPy code transposes inside):
    forward_batch_major(params, x (B, T, I), states, mask (B, T) or None, recurrent_mask=None)
        -> (outputs (B, T, ·), final_states, cache)
    backward_batch_major(cache, d_outputs (B, T, ·) or None, d_final_states)
        -> (dx (B, T, I), d_initial_states, grads)
    forward_inference_batch_major(params, x, states, mask=None) -> (outputs, final_states)
states_at and backward take either kind of cache. `mask` (T, B) bool keeps a row's state
unchanged at steps where it is False; `recurrent_mask` (B, ·) multiplies the fed-back state
before the recurrent matmul at every step (variational dropout, Gal & Ghahramani 2016).
"""

from . import gru, jordan, lstm, simple

__all__ = ["gru", "jordan", "lstm", "simple"]
