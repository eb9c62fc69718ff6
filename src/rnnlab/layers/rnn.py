"""The recurrent layers of the built-in cell families: SimpleRNN, LSTM, GRU (PyTorch layouts)
and Jordan.

All options are documented on rnnlab.layers.recurrent.Recurrent; the equations on the cells in
rnnlab.cells. These classes give each family its Keras-style constructor (positional cell
options, LSTM's unit_forget_bias); a family without such a class gets one from
rnnlab.layers.layer_for_cell. To reproduce torch.nn's initialisation use
    kernel_initializer = recurrent_initializer = bias_initializer = "pytorch_uniform"
(and, for the LSTM, unit_forget_bias=False: the default adds 1 to the forget-gate bias).
"""

from __future__ import annotations

from .._validation import check_bool
from ..cells import GRUCell, JordanCell, LSTMCell, ResetBeforeGRUCell, SimpleRNNCell
from .recurrent import Recurrent


def _keras_activations(who: str, activation, recurrent_activation) -> None:
    """The LSTM's and GRU's functions are fixed (tanh, σ): Keras' others are not supported."""
    for value, name, fixed in (
        (activation, "activation", "tanh"),
        (recurrent_activation, "recurrent_activation", "sigmoid"),
    ):
        if value != fixed:
            raise NotImplementedError(
                f"{who}: {name}={value!r} is not supported (the cell computes {fixed})"
            )


class SimpleRNN(Recurrent):
    """Elman network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Arguments: units H, activation ("tanh" | "relu"), and the options of Recurrent.
    Params: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H); with bias="keras"
    one bias (H), Keras' SimpleRNN: 4,256 parameters for 32 units on 100 features.
    Input (B, T, I) -> output (B, T, H) with return_sequences, else (B, H).
    """

    cell_class = SimpleRNNCell
    keras_gate_order = (0,)

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    @property
    def activation(self) -> str:
        return self.cell.activation


class LSTM(Recurrent):
    """Long short-term memory (torch.nn.LSTM layout, gate rows i, f, g, o).

        c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

    Arguments: units H, unit_forget_bias (add 1 to the forget-gate bias at initialisation,
    Jozefowicz et al. 2015; default True as in Keras), activation and recurrent_activation
    (Keras' names; only "tanh" and "sigmoid", what the cell computes), and the options of
    Recurrent. Params: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H); with
    bias="keras" one bias (4H), Keras' LSTM: 42,240 parameters for 64 units on 100 features.
    States: [h, c]; with return_state the output is [y, h, c] and backward takes (dy, dh, dc).
    """

    cell_class = LSTMCell
    keras_gate_order = (0, 1, 2, 3)  # Keras' i, f, c, o are PyTorch's i, f, g, o
    config_keys = (*Recurrent.config_keys, "unit_forget_bias")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        _keras_activations(self.who, activation, recurrent_activation)
        self.unit_forget_bias = check_bool(unit_forget_bias, self.who, "unit_forget_bias")

    def _create_params(self, input_dim: int) -> None:
        super()._create_params(input_dim)
        if self.unit_forget_bias and self.use_bias:
            H = self.units
            self.params["bias" if self.one_bias else "bias_ih"][H : 2 * H] += 1.0


class GRU(Recurrent):
    """Gated recurrent unit (PyTorch's layout, gate rows r, z, n), in either variant:

        reset_after=True (default; torch.nn.GRU, Keras' default; cells.GRUCell):
            n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        reset_after=False (Cho et al. 2014; Keras' other variant; cells.ResetBeforeGRUCell):
            n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn)
        h' = (1 - z) ⊙ n + z ⊙ h

    Arguments: units H, reset_after, activation and recurrent_activation (Keras' names; only
    "tanh" and "sigmoid"), and the options of Recurrent.
    Params: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H). With bias="keras"
    reset_after=False keeps one bias (3H); reset_after=True keeps both, as Keras does (its bias
    (2, 3H) is [bias_ih; bias_hh] in Keras' gate order z, r, h).
    """

    cell_class = GRUCell
    keras_gate_order = (1, 0, 2)  # Keras' z, r, h are PyTorch's rows 1, 0, 2 (r, z, n)
    config_keys = (*Recurrent.config_keys, "reset_after")

    def __init__(
        self,
        units: int,
        activation: str = "tanh",
        recurrent_activation: str = "sigmoid",
        reset_after: bool = True,
        **kwargs,
    ):
        self.reset_after = check_bool(reset_after, "GRU", "reset_after")
        self.cell_class = GRUCell if reset_after else ResetBeforeGRUCell
        super().__init__(units, **kwargs)
        _keras_activations(self.who, activation, recurrent_activation)

    @property
    def keras_bias_vectors(self) -> int:
        return 2 if self.reset_after else 1


class Jordan(Recurrent):
    """Jordan network (Jordan 1986): the previous output is fed back as context.

        h_t = act(W_ih x_t + W_ch y_{t-1} + b_h),   y_t = out(W_ho h_t + b_o)

    Arguments: units H (hidden size), output_units O, activation (hidden: tanh | relu |
    sigmoid), output_activation (tanh | sigmoid | linear | relu | softmax), and the options of
    Recurrent. The layer owns its output projection; the carried state is y (B, O), so
    return_state gives [y_seq, y_T] and recurrent_dropout drops entries of the fed-back y.
    Params: weight_ih (H, I), weight_ch (H, O), bias_h (H), weight_ho (O, H), bias_o (O).
    """

    cell_class = JordanCell

    def __init__(
        self,
        units: int,
        output_units: int,
        activation: str = "tanh",
        output_activation: str = "tanh",
        **kwargs,
    ):
        super().__init__(
            units,
            output_units=output_units,
            activation=activation,
            output_activation=output_activation,
            **kwargs,
        )

    @property
    def output_units(self) -> int:
        return self.cell.output_units

    @property
    def activation(self) -> str:
        return self.cell.activation

    @property
    def output_activation(self) -> str:
        return self.cell.output_activation
