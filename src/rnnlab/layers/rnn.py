"""The recurrent layers: SimpleRNN, LSTM, GRU (PyTorch layouts) and Jordan.

All options are documented on rnnlab.layers.recurrent.Recurrent; the equations on the cells in
rnnlab.cells. To reproduce torch.nn's initialisation use
    kernel_initializer = recurrent_initializer = bias_initializer = "pytorch_uniform"
(and, for the LSTM, unit_forget_bias=False: the default adds 1 to the forget-gate bias).
"""

from __future__ import annotations

from typing import Any

from .. import activations
from .._validation import check_bool, check_positive_int
from ..cells import gru, jordan, lstm, simple
from .recurrent import Recurrent


class SimpleRNN(Recurrent):
    """Elman network: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh), act = tanh or relu.

    Arguments: units H, activation ("tanh" | "relu"), and the options of Recurrent.
    Params: weight_ih (H, I), weight_hh (H, H), bias_ih (H), bias_hh (H).
    Input (B, T, I) -> output (B, T, H) with return_sequences, else (B, H).
    """

    config_keys = (*Recurrent.config_keys, "activation")

    def __init__(self, units: int, activation: str = "tanh", **kwargs):
        super().__init__(units, **kwargs)
        activations.get(activation, self.who, simple.ACTIVATIONS)
        self.activation = activation

    cell = simple

    def _create_params(self, input_dim: int) -> None:
        self._init_gated(input_dim, gates=1)

    def _cell_options(self) -> dict[str, Any]:
        return {"activation": self.activation}


class LSTM(Recurrent):
    """Long short-term memory (torch.nn.LSTM layout, gate rows i, f, g, o).

        c' = f ⊙ c + i ⊙ g,   h' = o ⊙ tanh(c')

    Arguments: units H, unit_forget_bias (add 1 to the forget-gate bias at initialisation,
    Jozefowicz et al. 2015; default True as in Keras), and the options of Recurrent.
    Params: weight_ih (4H, I), weight_hh (4H, H), bias_ih (4H), bias_hh (4H).
    States: [h, c]; with return_state the output is [y, h, c] and backward takes (dy, dh, dc).
    """

    state_names = ("h", "c")
    config_keys = (*Recurrent.config_keys, "unit_forget_bias")

    def __init__(self, units: int, unit_forget_bias: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = check_bool(unit_forget_bias, self.who, "unit_forget_bias")

    cell = lstm

    def _create_params(self, input_dim: int) -> None:
        self._init_gated(input_dim, gates=4)
        if self.unit_forget_bias:
            H = self.units
            self.params["bias_ih"][H : 2 * H] += 1.0


class GRU(Recurrent):
    """Gated recurrent unit (torch.nn.GRU's variant and layout, gate rows r, z, n).

        n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)),   h' = (1 - z) ⊙ n + z ⊙ h

    Arguments: units H and the options of Recurrent.
    Params: weight_ih (3H, I), weight_hh (3H, H), bias_ih (3H), bias_hh (3H).
    """

    cell = gru

    def _create_params(self, input_dim: int) -> None:
        self._init_gated(input_dim, gates=3)


class Jordan(Recurrent):
    """Jordan network (Jordan 1986): the previous output is fed back as context.

        h_t = act(W_ih x_t + W_ch y_{t-1} + b_h),   y_t = out(W_ho h_t + b_o)

    Arguments: units H (hidden size), output_units O, activation (hidden: tanh | relu |
    sigmoid), output_activation (tanh | sigmoid | linear | relu | softmax), and the options of
    Recurrent. The layer owns its output projection; the carried state is y (B, O), so
    return_state gives [y_seq, y_T] and recurrent_dropout drops entries of the fed-back y.
    Params: weight_ih (H, I), weight_ch (H, O), bias_h (H), weight_ho (O, H), bias_o (O).
    """

    state_names = ("y",)
    config_keys = (*Recurrent.config_keys, "output_units", "activation", "output_activation")

    def __init__(self, units: int, output_units: int, activation: str = "tanh",
                 output_activation: str = "tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.output_units = check_positive_int(output_units, self.who, "output_units")
        activations.get(activation, self.who, jordan.HIDDEN_ACTIVATIONS)
        activations.get(output_activation, self.who, jordan.OUTPUT_ACTIVATIONS)
        self.activation = activation
        self.output_activation = output_activation

    cell = jordan

    @property
    def state_size(self) -> int:
        return self.output_units

    @property
    def output_size(self) -> int:
        return self.output_units

    def _create_params(self, input_dim: int) -> None:
        H, O = self.units, self.output_units
        self._add_param("weight_ih", self._init(self.kernel_initializer, (H, input_dim),
                                                 hidden_size=H))
        self._add_param("weight_ch", self._init(self.recurrent_initializer, (H, O),
                                                 hidden_size=H))
        self._add_param("bias_h", self._init(self.bias_initializer, (H,), hidden_size=H))
        self._add_param("weight_ho", self._init(self.kernel_initializer, (O, H), hidden_size=H))
        self._add_param("bias_o", self._init(self.bias_initializer, (O,), hidden_size=H))

    def _cell_options(self) -> dict[str, Any]:
        return {"activation": self.activation, "output_activation": self.output_activation}
