"""Figures (matplotlib, drawn off-screen) and, later, the explorer."""

from .curves import plot_loss_curve

__all__ = ["plot_loss_curve"]
