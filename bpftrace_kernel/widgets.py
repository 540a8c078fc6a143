"""The Stop button and progress bar shown while a trace runs (ipywidgets over comms).

Owns `StopPanel`: a Button that asks the running trace to stop (the same as an interrupt:
END runs and the maps are printed), a progress bar for timed cells and a status label.
The panel is a transient control: when the cell ends the kernel replaces its display with
static text, so saved notebooks never show "model not found".  One panel serves every cell
of a kernel (`reset()` per cell), so headless runs (nbclient) save a handful of widget
models, not a dozen per cell.  Widget callbacks may run on any thread: `on_stop` must be
thread-safe.
"""
from __future__ import annotations

import html
import logging
from typing import Any, Callable, Optional

log = logging.getLogger(__name__)


def widgets_available() -> bool:
    try:
        import ipywidgets  # noqa: F401
    except ImportError:
        return False
    return True


def register_comm_targets() -> bool:
    """Register the `jupyter.widget` comm targets with the kernel's comm manager."""
    try:
        import ipywidgets
    except ImportError:
        return False
    register = getattr(ipywidgets, "register_comm_target", None)
    if register is not None:
        register()
    return True


class StopPanel:
    """[Stop] [=====      ] label, built from ipywidgets."""

    def __init__(self, on_stop: Callable[[], None]):
        import ipywidgets as w
        self._on_stop = on_stop
        self.button = w.Button(description="Stop", icon="stop", button_style="warning",
                               tooltip="Stop the trace: END runs and the maps are printed",
                               layout=w.Layout(width="80px"))
        self.button.on_click(self._clicked)
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="200px", display="none"))
        self.label = w.HTML(value="")
        self.box = w.HBox([self.button, self.progress, self.label])
        self.stopped = False

    def reset(self, duration: Optional[float]) -> None:
        """Ready for a new cell: enabled button, progress bar only for timed cells."""
        self.stopped = False
        self.button.disabled = False
        self.button.description = "Stop"
        self.progress.value = 0.0
        self.progress.layout.display = "" if duration else "none"
        self.label.value = ""

    def _clicked(self, _button: Any) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.button.disabled = True
        self.button.description = "Stopping"
        self._on_stop()

    def bundle(self, status_text: str) -> dict[str, Any]:
        data = dict(self.box._repr_mimebundle_())
        data["text/plain"] = status_text
        return data

    def update(self, fraction: Optional[float], status_text: str) -> None:
        try:
            if fraction is not None:
                self.progress.value = fraction
            self.label.value = f'<span style="font-family:monospace;font-size:90%">{html.escape(status_text)}</span>'
        except Exception:  # a closed comm must not break the trace loop
            log.debug("widget update failed", exc_info=True)

    def close(self) -> None:
        for widget in (self.box, self.label, self.progress, self.button):
            try:
                widget.close()
            except Exception:
                log.debug("widget close failed", exc_info=True)


def make_stop_panel(on_stop: Callable[[], None]) -> Optional[StopPanel]:
    """A StopPanel, or None when ipywidgets is not installed (the status line still shows)."""
    if not widgets_available():
        return None
    try:
        return StopPanel(on_stop)
    except Exception:
        log.exception("could not create the Stop panel")
        return None
