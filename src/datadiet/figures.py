"""Figures without pyplot's global state: what the plots need of matplotlib.pyplot, on ``Figure``.

``plt = pyplot()`` gives ``plt.subplots``, ``plt.close``, ``plt.get_cmap`` and ``plt.cm``; figures are
``matplotlib.figure.Figure`` objects saved with ``fig.savefig``, so no backend is switched and a
notebook user's stays as it is. matplotlib is the ``plot`` extra.
"""

from __future__ import annotations


def pyplot():
    """What the figures need of matplotlib.pyplot (``subplots``, ``close``, ``get_cmap``, ``cm``), built on
    ``matplotlib.figure.Figure``: no global backend is switched, so a notebook's stays as it is."""
    try:
        import matplotlib
        from matplotlib.figure import Figure
    except ImportError as exc:
        from .errors import MissingDependencyError

        raise MissingDependencyError("matplotlib", "plot", "Drawing figures") from exc

    class _Figures:
        cm = matplotlib.cm

        @staticmethod
        def subplots(nrows=1, ncols=1, *, figsize=None, dpi=None, **kw):
            fig = Figure(figsize=figsize, dpi=dpi)
            return fig, fig.subplots(nrows, ncols, **kw)

        @staticmethod
        def close(fig=None):
            pass  # a Figure without pyplot is freed with its last reference

        @staticmethod
        def get_cmap(name, lut=None):
            return matplotlib.colormaps[name] if lut is None else matplotlib.colormaps[name].resampled(lut)

    return _Figures
