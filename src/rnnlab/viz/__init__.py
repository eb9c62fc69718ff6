"""The explorer (`rnnlab explore`: views as data, server, static page), its static exports
(`rnnlab viz`) and loss-curve figures (matplotlib, drawn off-screen)."""

from .curves import plot_loss_curve

__all__ = ["plot_loss_curve"]
