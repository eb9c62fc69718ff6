"""rnnlab.seq2seq: exact gradients of a whole training step (finite differences, float64),
PyTorch parity of one step, decoding (greedy, beam search, attention per token), learning a
toy reversal task, files, vocabularies and error paths."""

from __future__ import annotations

import numpy as np
import pytest

import rnnlab
from _torch import requires_torch, torch
from rnnlab.gradcheck import TOLERANCE, numerical_gradient, relative_error
from rnnlab.seq2seq import (
    Decoder,
    Encoder,
    Hypothesis,
    Seq2Seq,
    Vocabulary,
    beam_search,
    greedy_decode,
    length_penalty,
)

PAD, BOS, EOS = 0, 1, 2


def _data(rng, B=3, S=5, T=4, src_vocab=7, tgt_vocab=8):
    """Right-padded sources (one of a single token) and targets ending in EOS, then PAD."""
    src = rng.integers(3, src_vocab, size=(B, S))
    src[1, 3:] = PAD
    src[2, 1:] = PAD
    tgt = rng.integers(3, tgt_vocab, size=(B, T))
    tgt[0, T - 1] = EOS
    tgt[1, 2] = EOS
    tgt[1, 3:] = PAD
    tgt[2, T - 1] = EOS
    return src, tgt


def _model(
    cell="lstm",
    bidirectional=False,
    attention="general",
    input_feeding=True,
    bridge="dense",
    layers=1,
    dtype="float64",
    units=5,
    **cell_options,
):
    dirs = 2 if bidirectional else 1
    dec_units = units * dirs if bridge == "copy" else units
    enc = Encoder(
        7,
        4,
        units,
        cell=cell,
        num_layers=layers,
        bidirectional=bidirectional,
        dtype=dtype,
        seed=1,
        **cell_options,
    )
    dec = Decoder(
        8,
        3,
        dec_units,
        cell=cell,
        num_layers=layers,
        attention=attention,
        input_feeding=input_feeding,
        dtype=dtype,
        seed=2,
        **cell_options,
    )
    return Seq2Seq(enc, dec, bridge=bridge, seed=3)


# -- exact gradients ---------------------------------------------------------------------------
CASES = {
    "lstm_feeding_general_copy": dict(cell="lstm", attention="general", bridge="copy"),
    "bilstm_feeding_bahdanau_dense": dict(
        cell="lstm", bidirectional=True, attention="bahdanau", units=4
    ),
    "bigru_2layers_dot_copy": dict(
        cell="gru",
        bidirectional=True,
        attention="dot",
        input_feeding=False,
        bridge="copy",
        layers=2,
        units=3,
    ),
    "gru_no_attention_zeros": dict(cell="gru", attention=None, bridge="zeros"),
    "birnn_2layers_general_sequence": dict(
        cell="rnn", bidirectional=True, input_feeding=False, layers=2
    ),
    "jordan_feeding_general": dict(cell="jordan", output_units=3),
    # issue 17's parallel families: the decoder steps them, the encoder scans
    "mingru_feeding_general": dict(cell="mingru", attention="general"),
    "biminlstm_bahdanau_dense": dict(
        cell="minlstm", bidirectional=True, attention="bahdanau", units=4
    ),
    "lru_dot_no_feeding": dict(cell="lru", attention="dot", input_feeding=False, units=4),
}


GRADIENT_RUNS = [(case, 0.0) for case in CASES] + [
    ("bilstm_feeding_bahdanau_dense", 0.5),
    ("birnn_2layers_general_sequence", 0.5),
]


@pytest.mark.parametrize("case,sampling", GRADIENT_RUNS)
def test_training_step_gradients_match_finite_differences(case, sampling):
    """∂loss/∂θ for every parameter of encoder, bridge, attention and decoder; token inputs
    enter through the embeddings, whose gradients are checked too. ε = 1e-4 (truncation
    O(ε²) ≈ 1e-8 relative): the mean loss is ~2 and some gradients are ~1e-5 per entry, where
    ε = 1e-6 leaves round-off of ~1e-6 relative."""
    rng = np.random.default_rng(0)
    model = _model(**CASES[case])
    src, tgt = _data(rng)
    for p in model.params.values():
        p += 0.3 * rng.standard_normal(p.shape)

    def loss():
        model.decoder.rng = np.random.default_rng(5)  # the same sampled tokens every time
        logits, _ = model.forward(src, tgt, sampling_probability=sampling)
        return float(model.loss(tgt, logits, tgt != PAD))

    model.decoder.rng = np.random.default_rng(5)
    model.loss_and_grads(src, tgt, sampling_probability=sampling)
    analytic = {k: g.copy() for k, g in model.grads.items()}
    errors = {
        k: relative_error(analytic[k], numerical_gradient(loss, p, 1e-4))
        for k, p in model.params.items()
    }
    assert max(errors.values()) <= TOLERANCE, errors
    assert len(errors) == len(model.params) > 8


def test_sequence_path_equals_step_path():
    """Without input feeding the decoder runs whole sequences; scheduled sampling with p = 1e-12
    (never drawn) forces the step loop: same loss and gradients."""
    rng = np.random.default_rng(1)
    model = _model(cell="gru", bidirectional=True, input_feeding=False)
    src, tgt = _data(rng)
    a = model.loss_and_grads(src, tgt)
    ga = {k: g.copy() for k, g in model.grads.items()}
    assert model.decoder._cache["mode"] == "sequence"
    b = model.loss_and_grads(src, tgt, sampling_probability=1e-12)
    assert model.decoder._cache["mode"] == "steps"
    assert abs(a - b) <= 1e-12 * abs(a)
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, ga[k], rtol=1e-10, atol=1e-13)


def test_padding_does_not_change_loss_or_gradients():
    rng = np.random.default_rng(2)
    model = _model(bidirectional=True, attention="bahdanau")
    src, tgt = _data(rng)
    a = model.loss_and_grads(src, tgt)
    ga = {k: g.copy() for k, g in model.grads.items()}
    src2 = np.concatenate([src, np.zeros((3, 3), src.dtype)], axis=1)  # more source padding
    tgt2 = np.concatenate([tgt, np.zeros((3, 2), tgt.dtype)], axis=1)  # more target padding
    b = model.loss_and_grads(src2, tgt2)
    assert abs(a - b) <= 1e-12
    for k, g in model.grads.items():
        np.testing.assert_allclose(g, ga[k], rtol=1e-9, atol=1e-12)


# -- PyTorch parity ----------------------------------------------------------------------------
def _torch_step(model, src, tgt, tdt):
    """Loss and gradients of one step of a torch.nn model with the same weights: packed
    bidirectional nn.LSTM encoder, dense bridge, nn.LSTMCell decoder with input feeding and
    Luong's general attention."""
    nn, F = torch.nn, torch.nn.functional
    P = {k: torch.tensor(v.copy(), dtype=tdt) for k, v in model.params.items()}
    enc, dec = model.encoder, model.decoder
    H, E_in = enc.units, enc.embed_dim
    emb_src = nn.Embedding(enc.vocab_size, E_in, dtype=tdt)
    lstm = nn.LSTM(E_in, H, batch_first=True, bidirectional=True, dtype=tdt)
    emb_tgt = nn.Embedding(dec.vocab_size, dec.embed_dim, dtype=tdt)
    U = dec.units
    cell = nn.LSTMCell(dec.embed_dim + U, U, dtype=tdt)
    attn_w = nn.Linear(enc.memory_size, U, bias=False, dtype=tdt)
    combine = nn.Linear(enc.memory_size + U, U, bias=False, dtype=tdt)
    out = nn.Linear(U, dec.vocab_size, dtype=tdt)
    F_size = 4 * H
    bridge_h, bridge_c = nn.Linear(F_size, U, dtype=tdt), nn.Linear(F_size, U, dtype=tdt)
    pairs = {
        "encoder.embedding.weight": emb_src.weight,
        "decoder.embedding.weight": emb_tgt.weight,
        "decoder.attention.weight": attn_w.weight,
        "decoder.combine.weight": combine.weight,
        "decoder.output.weight": out.weight,
        "decoder.output.bias": out.bias,
        "bridge.0.h.weight": bridge_h.weight,
        "bridge.0.h.bias": bridge_h.bias,
        "bridge.0.c.weight": bridge_c.weight,
        "bridge.0.c.bias": bridge_c.bias,
    }
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        pairs[f"encoder.rnn0.forward_layer.{name}"] = getattr(lstm, f"{name}_l0")
        pairs[f"encoder.rnn0.backward_layer.{name}"] = getattr(lstm, f"{name}_l0_reverse")
        pairs[f"decoder.rnn0.{name}"] = getattr(cell, name)
    assert set(pairs) == set(P)
    with torch.no_grad():
        for k, t in pairs.items():
            t.copy_(P[k])
    src_t, tgt_t = torch.tensor(src), torch.tensor(tgt)
    lengths = (src_t != PAD).sum(1)
    packed = nn.utils.rnn.pack_padded_sequence(
        emb_src(src_t), lengths, batch_first=True, enforce_sorted=False
    )
    mem, (h_n, c_n) = lstm(packed)
    memory, _ = nn.utils.rnn.pad_packed_sequence(mem, batch_first=True, total_length=src.shape[1])
    e = torch.cat([h_n[0], c_n[0], h_n[1], c_n[1]], dim=-1)
    h, c = torch.tanh(bridge_h(e)), torch.tanh(bridge_c(e))
    keys = attn_w(memory)  # (B, S, U)
    mask = src_t != PAD
    y_in = torch.cat([torch.full((src.shape[0], 1), BOS), tgt_t[:, :-1]], dim=1)
    ht = torch.zeros(src.shape[0], U, dtype=tdt)
    logits = []
    for t in range(tgt.shape[1]):
        h, c = cell(torch.cat([emb_tgt(y_in[:, t]), ht], dim=-1), (h, c))
        score = torch.einsum("bu,bsu->bs", h, keys).masked_fill(~mask, float("-inf"))
        ctx = torch.einsum("bs,bsm->bm", F.softmax(score, dim=-1), memory)
        ht = torch.tanh(combine(torch.cat([ctx, h], dim=-1)))
        logits.append(out(ht))
    logits = torch.stack(logits, dim=1)
    valid = tgt_t != PAD
    loss = F.cross_entropy(logits[valid], tgt_t[valid])
    loss.backward()
    return float(loss.detach()), {k: t.grad.numpy() for k, t in pairs.items()}


@requires_torch
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-9), ("float32", 1e-5)])
def test_training_step_matches_torch(dtype, tol):
    rng = np.random.default_rng(4)
    model = _model(cell="lstm", bidirectional=True, attention="general", dtype=dtype, units=6)
    src, tgt = _data(rng, B=4, S=6, T=5)
    for p in model.params.values():
        p += (0.3 * rng.standard_normal(p.shape)).astype(p.dtype)
    loss = model.loss_and_grads(src, tgt)
    t_loss, t_grads = _torch_step(
        model, src, tgt, torch.float64 if dtype == "float64" else torch.float32
    )
    assert abs(loss - t_loss) <= tol * max(1.0, abs(t_loss))
    for key, g in model.grads.items():
        scale = max(1.0, float(np.max(np.abs(t_grads[key]))))
        assert np.max(np.abs(g - t_grads[key])) <= tol * scale, key


# -- decoding ----------------------------------------------------------------------------------
def _sequence_log_prob(model, src, tokens):
    """log P(tokens EOS | src) by teacher forcing (one source)."""
    tgt = np.array([[*tokens, EOS]])
    logits, _ = model.forward(src, tgt)
    z = logits[0] - logits[0].max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(sum(log_p[t, k] for t, k in enumerate(tgt[0])))


@pytest.mark.parametrize("feeding", [True, False])
def test_decoders_report_the_model_probability_and_attention(feeding):
    rng = np.random.default_rng(5)
    model = _model(bidirectional=True, input_feeding=feeding, units=8)
    for p in model.params.values():
        p += rng.standard_normal(p.shape)
    src, _ = _data(rng)
    greedy = model.greedy(src, max_len=12, return_attention=True)
    beams = model.beam_search(
        src, beam_width=4, max_len=12, length_penalty=0.0, return_attention=True
    )
    mask = src != PAD
    for b, (g, h) in enumerate(zip(greedy, beams, strict=True)):
        for hyp in (g, h):
            assert isinstance(hyp, Hypothesis)
            if len(hyp.tokens) < 12:  # ended by EOS: its log-probability is the model's
                lp = _sequence_log_prob(model, src[b : b + 1], hyp.tokens)
                assert abs(hyp.log_prob - lp) <= 1e-9 * max(1.0, abs(lp))
                assert hyp.attention.shape == (len(hyp.tokens) + 1, src.shape[1])
                np.testing.assert_allclose(hyp.attention.sum(-1), 1.0, atol=1e-12)
                assert np.all(hyp.attention[:, ~mask[b]] == 0.0)
        # with α = 0 the beam's answer is at least as probable as greedy's
        assert h.log_prob >= g.log_prob - 1e-9
    # width 1 is greedy search
    one = model.beam_search(src, beam_width=1, max_len=12, length_penalty=0.0)
    assert [h.tokens for h in one] == [g.tokens for g in greedy]
    # batched = one by one
    for b in range(src.shape[0]):
        alone = beam_search(model, src[b : b + 1], beam_width=4, max_len=12, length_penalty=0.0)
        assert alone[0].tokens == beams[b].tokens


def test_length_penalty_is_gnmt():
    assert length_penalty(1, 0.6) == 1.0
    assert length_penalty(7, 0.0) == 1.0
    assert abs(length_penalty(7, 1.0) - 2.0) < 1e-15


# -- learning ----------------------------------------------------------------------------------
def _reversal(rng, B, lo=3, hi=8):
    """Digits (ids 4..13) of length lo..hi; the target is the reversed source, then EOS."""
    src = np.zeros((B, hi), np.int64)
    tgt = np.zeros((B, hi + 1), np.int64)
    for i, n in enumerate(rng.integers(lo, hi + 1, size=B)):
        d = rng.integers(4, 14, size=n)
        src[i, :n], tgt[i, :n], tgt[i, n] = d, d[::-1], EOS
    return src, tgt


def _accuracy(hyps, tgt):
    return float(
        np.mean([h.tokens == list(t[: list(t).index(EOS)]) for h, t in zip(hyps, tgt, strict=True)])
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_learns_to_reverse_digits(seed):
    """250 Adam steps of 32 pairs (3 s): low loss; beam (width 5) ≥ greedy. At learning rate
    5e-3, seeds 0–4 reach validation loss 0.0046–0.0058 on every kernel path (avx512, avx2,
    generic, NumPy). At 1e-2 the outcome swung with float32 rounding: seed 2 reached 0.0019 on
    AVX-512 but 0.19 on the generic path (no FMA), and at 2e-2 and 150 steps 0.007–0.38."""
    rng = np.random.default_rng(seed)
    model = Seq2Seq(
        Encoder(14, 16, 32, cell="gru", bidirectional=True, seed=seed),
        Decoder(14, 16, 32, cell="gru", attention="general", input_feeding=False, seed=seed + 1),
        seed=seed,
    )
    opt = rnnlab.optimizers.Adam(learning_rate=5e-3, global_clipnorm=5.0)
    first = model.evaluate_loss(*_reversal(np.random.default_rng(99), 64))
    for _ in range(250):
        model.train_step(*_reversal(rng, 32), opt)
    src, tgt = _reversal(np.random.default_rng(999), 200)
    assert first > 2.0
    assert model.evaluate_loss(src, tgt) < 0.05
    greedy = _accuracy(model.greedy(src), tgt)
    beam = _accuracy(model.beam_search(src, beam_width=5), tgt)
    assert greedy >= 0.95
    assert beam >= greedy


# -- files, vocabulary -------------------------------------------------------------------------
def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(6)
    model = _model(cell="gru", bidirectional=True, attention="bahdanau", dtype="float32")
    src, tgt = _data(rng)
    for p in model.params.values():
        p += rng.standard_normal(p.shape).astype(p.dtype)
    path = tmp_path / "s2s.safetensors"
    model.save(path)
    loaded = rnnlab.load_model(path)
    assert isinstance(loaded, Seq2Seq)
    assert loaded.get_config() == model.get_config()
    for k, v in model.params.items():
        np.testing.assert_array_equal(loaded.params[k], v)
    np.testing.assert_array_equal(loaded.forward(src, tgt)[0], model.forward(src, tgt)[0])
    assert [h.tokens for h in loaded.beam_search(src)] == [h.tokens for h in model.beam_search(src)]


def test_vocabulary():
    vocab = Vocabulary.build([["a", "b", "b"], ["c", "b"]], min_count=1)
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<oov>"]
    assert vocab.itos[4] == "b"
    ids, unknown = vocab.encode(["b", "zz", "a"])
    assert unknown == 1 and ids[1] == 3 and ids[-1] == EOS
    assert vocab.decode(ids) == ["b", "<oov>", "a"]
    batch = vocab.batch([["a"], ["b", "c"]])
    assert batch.shape == (2, 3) and batch[0, 2] == PAD
    with pytest.raises(ValueError, match="empty sequence"):
        vocab.batch([[]], add_eos=False)


# -- errors ------------------------------------------------------------------------------------
def test_errors_are_clear():
    model = _model()
    src, tgt = _data(np.random.default_rng(0))
    with pytest.raises(ValueError, match="outside its vocabulary of 7"):
        model.forward(src + 10, tgt)
    with pytest.raises(ValueError, match="target holds token id 9"):
        model.forward(src, np.full_like(tgt, 9))
    with pytest.raises(ValueError, match="source row 0 is empty"):
        model.forward(np.zeros_like(src), tgt)
    with pytest.raises(ValueError, match="non-empty source"):
        model.forward(src[:, :0], tgt)
    with pytest.raises(TypeError, match="integer token ids"):
        model.forward(src.astype(float), tgt)
    with pytest.raises(ValueError, match="batches differ"):
        model.forward(src[:2], tgt)
    with pytest.raises(ValueError, match="beam_width"):
        model.beam_search(src, beam_width=0)
    with pytest.raises(ValueError, match="beam_width"):
        model.beam_search(src, beam_width=2.5)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, src, max_len=0)
    with pytest.raises(ValueError, match="length_penalty"):
        model.beam_search(src, length_penalty=-1.0)
    with pytest.raises(ValueError, match="bridge='copy' needs"):
        Seq2Seq(Encoder(7, 4, 5, bidirectional=True), Decoder(8, 3, 5), bridge="copy")
    with pytest.raises(ValueError, match="outside the target vocabulary"):
        Seq2Seq(Encoder(7, 4, 5), Decoder(2, 3, 5))
    with pytest.raises(ValueError, match="dtypes differ"):
        Seq2Seq(Encoder(7, 4, 5, dtype="float64"), Decoder(8, 3, 5))
    with pytest.raises(ValueError, match="attention"):
        Decoder(8, 3, 5, attention="cosine")
    with pytest.raises(ValueError, match="one size"):
        Seq2Seq(Encoder(7, 4, 5, bidirectional=True), Decoder(8, 3, 5, attention="dot"))
    with pytest.raises(RuntimeError, match="before forward"):
        _model().backward(np.zeros((3, 4, 8)))


@pytest.mark.parametrize("seed", [0, 3])
def test_attention_beats_no_attention_on_longer_sequences(seed):
    """Reversal of 10–16 digits, 200 steps each: seeds 0–2 gave validation loss 0.02–0.04 and
    greedy accuracy 0.96–0.99 with attention, loss 1.63–1.76 and accuracy 0 without."""

    def train(attention):
        rng = np.random.default_rng(seed)
        model = Seq2Seq(
            Encoder(14, 16, 32, cell="gru", bidirectional=True, seed=seed),
            Decoder(
                14, 16, 32, cell="gru", attention=attention, input_feeding=False, seed=seed + 1
            ),
            seed=seed,
        )
        opt = rnnlab.optimizers.Adam(learning_rate=1e-2, global_clipnorm=5.0)
        for _ in range(200):
            model.train_step(*_reversal(rng, 32, 10, 16), opt)
        src, tgt = _reversal(np.random.default_rng(999), 100, 10, 16)
        return model.evaluate_loss(src, tgt), _accuracy(model.greedy(src), tgt)

    loss_att, acc_att = train("general")
    loss_none, acc_none = train(None)
    print(
        f"seed {seed}: attention {loss_att:.3f} / {acc_att:.2f}, none {loss_none:.3f} / "
        f"{acc_none:.2f}"
    )
    # greedy accuracy with attention ranged 0.42-0.98 over seeds 0-11 (float32 rounding of
    # the compiled and the NumPy GRU backward moves it), without attention 0 on every seed
    assert loss_att < loss_none / 4
    assert acc_att >= 0.4 > 0.1 >= acc_none


def test_docs_example_runs(tmp_path, monkeypatch):
    """docs/seq2seq.md's example, as written: it learns and its file loads back."""
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parent.parent / "docs" / "seq2seq.md"
    blocks = re.findall(r"```python\n(.*?)```", doc.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(blocks[0], "docs/seq2seq.md", "exec"), namespace)  # our own docs
    assert namespace["loss"] < 0.05
    assert (tmp_path / "reverse.safetensors").exists()
    src = namespace["src"]
    assert [h.tokens for h in namespace["same"].greedy(src)] == [
        h.tokens for h in namespace["model"].greedy(src)
    ]
