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
from ..cells import GRUCell, JordanCell, LSTMCell, SimpleRNNCell
from .recurrent import Recurrent


class SimpleRNN(Recurrent):
    """Elman network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Arguments: units H, activation ("tanh" | "relu"), and the options of Recurrent.
    Params: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
    Input (B, T, I) -> output (B, T, H) with return_sequences, else (B, H).
    """

    cell_class = SimpleRNNCell

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(units, activation=activation, **kwargs)

    @property
    def activation(self) -> str:
        return self.cell.activation


class LSTM(Recurrent):
    """Long short-term memory (torch.nn.LSTM layout, gate rows i, f, g, o).

        c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

    Arguments: units H, unit_forget_bias (add 1 to the forget-gate bias at initialisation,
    Jozefowicz et al. 2015; default True as in Keras), and the options of Recurrent.
    Params: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H).
    States: [h, c]; with return_state the output is [y, h, c] and backward takes (dy, dh, dc).
    """

    cell_class = LSTMCell
    config_keys = (*Recurrent.config_keys, "unit_forget_bias")

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = check_bool(unit_forget_bias, self.who, "unit_forget_bias")

    def _create_params(self, input_dim: int) -> None:
        super()._create_params(input_dim)
        if self.unit_forget_bias:
            H = self.units
            self.params["bias_ih"][H : 2 * H] += 1.0


class GRU(Recurrent):
    """Gated recurrent unit (torch.nn.GRU's variant and layout, gate rows r, z, n).

        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

    Arguments: units H and the options of Recurrent.
    Params: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
    """

    cell_class = GRUCell


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
