"""The seq2seq of rnnlab.seq2seq written as a functional rnnlab.models.Model (Embedding, GRU
with return_state, Keras' dot Attention, Concatenate, Dense): it builds, equals the Seq2Seq
class with copied weights (bridge "copy", Luong dot attention, no input feeding), and learns.
docs/seq2seq.md shows the same graph."""

import numpy as np

import rnnlab
from rnnlab import layers, models
from rnnlab.seq2seq import Decoder, Encoder, Seq2Seq

V_SRC, V_TGT, E, H = 12, 14, 8, 16


def functional_seq2seq(dtype="float32", seed=0):
    src = models.Input(shape=(None,), dtype="int64", name="source")
    tgt_in = models.Input(shape=(None,), dtype="int64", name="decoder_input")
    kw = {"dtype": dtype}
    x = layers.Embedding(V_SRC, E, mask_zero=True, name="src_embedding", seed=seed, **kw)(src)
    encoder = layers.GRU(H, return_sequences=True, return_state=True, name="encoder", **kw)
    memory, h = encoder(x)  # (B, S, H), (B, H)
    y = layers.Embedding(V_TGT, E, name="tgt_embedding", seed=seed + 1, **kw)(tgt_in)
    decoder = layers.GRU(H, return_sequences=True, return_state=True, name="decoder", **kw)
    states, _ = decoder(y, initial_state=[h])  # (B, T, H)
    context = layers.Attention(name="attention", **kw)([states, memory])  # (B, T, H)
    joined = layers.Concatenate(name="concat", **kw)([context, states])  # (B, T, 2H)
    ht = layers.Dense(H, activation="tanh", use_bias=False, name="combine", **kw)(joined)
    logits = layers.Dense(V_TGT, name="output", **kw)(ht)  # (B, T, V)
    return models.Model([src, tgt_in], logits)


# functional layer.param  <-  Seq2Seq param
COPY = {
    "src_embedding.weight": "encoder.embedding.weight",
    "tgt_embedding.weight": "decoder.embedding.weight",
    "combine.weight": "decoder.combine.weight",
    "output.weight": "decoder.output.weight",
    "output.bias": "decoder.output.bias",
    **{
        f"encoder.{k}": f"encoder.rnn0.{k}"
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    },
    **{
        f"decoder.{k}": f"decoder.rnn0.{k}"
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    },
}


def batch(rng, n=6):
    src = rng.integers(4, V_SRC, size=(n, 7))
    for i, length in enumerate(rng.integers(2, 8, size=n)):
        src[i, length:] = 0  # right padding
    tgt = rng.integers(4, V_TGT, size=(n, 5))
    return src, tgt, np.concatenate([np.ones((n, 1), np.int64), tgt[:, :-1]], axis=1)


def test_functional_graph_equals_the_seq2seq_class():
    model = functional_seq2seq("float64")
    seq = Seq2Seq(
        Encoder(V_SRC, E, H, cell="gru", dtype="float64", seed=3),
        Decoder(V_TGT, E, H, cell="gru", attention="dot", input_feeding=False, dtype="float64"),
        bridge="copy",
    )
    src, tgt, tgt_in = batch(np.random.default_rng(0))
    model.predict([src, tgt_in])  # builds the layers
    by_layer = {layer.name: layer for layer in model.layers}
    for key, source in COPY.items():
        name, param = key.split(".")
        by_layer[name].params[param][...] = seq.params[source]
    assert sum(p.size for p in seq.params.values()) == model.count_params()
    want, _ = seq.forward(src, tgt)
    np.testing.assert_allclose(model.predict([src, tgt_in]), want, rtol=1e-10, atol=1e-12)


def test_functional_seq2seq_learns_to_copy():
    rng = np.random.default_rng(1)
    model = functional_seq2seq(seed=1)
    model.compile(
        rnnlab.optimizers.Adam(learning_rate=1e-2, global_clipnorm=5.0),
        rnnlab.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    src = rng.integers(4, V_TGT - 2, size=(1024, 5))  # target = source: attention must align
    tgt_in = np.concatenate([np.ones((1024, 1), np.int64), src[:, :-1]], axis=1)
    history = model.fit([src, tgt_in], src, epochs=10, batch_size=32, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.25 * losses[0]  # seeds 1-3: 2.2 -> 0.06-0.13
    accuracy = (model.predict([src, tgt_in]).argmax(-1) == src).mean()
    assert accuracy > 0.8  # chance is 1/8; seeds 1-3: 0.975-0.998
