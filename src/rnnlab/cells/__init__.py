"""The math core: one module per cell family, pure functions over whole sequences.

Every family provides
    <family>_step(x_t, state, params)            one step, written like the equations
    forward(params, x, states, mask=None, recurrent_mask=None, ...)
        -> (outputs, final_states, cache)
    backward(cache, d_outputs, d_final_states) -> (dx, d_initial_states, grads)
    states_at(cache, t) -> the states after step t of that forward (for truncated BPTT)
Sequences are time-major inside the core: x is (T, B, I), outputs (T, B, ·); the layers in
rnnlab.layers take batch-first input and transpose. One optional entry takes the layers'
layout instead, for the cache-free forward under no_grad (only lstm has it: its compiled loop
reads and writes these layouts in place, saving two transposing copies per call):
    forward_inference_batch_major(params, x (B, T, I), states, mask (B, T) or None)
        -> (outputs (B, T, ·), final_states) `mask` (T, B) bool keeps a row's state
unchanged at steps where it is False; `recurrent_mask` (B, ·) multiplies the fed-back state
before the recurrent matmul at every step (variational dropout, Gal & Ghahramani 2016).
"""

from . import gru, jordan, lstm, simple

__all__ = ["gru", "jordan", "lstm", "simple"]
