"""A generation setting's slider: Gradio's slider whose value the handlers check.

Gradio's own slider refuses an out-of-range value from the HTTP API with a pop-up that does not name the
setting; this one passes the value on, and the options table refuses it inline with a message naming the
setting and its range (None or "" means the model's default). The page cannot send such a value: the
slider keeps its number box in range. (Gradio keeps ``slider.pyi`` beside this file for its typing.)
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from gradio.events import Dependency

class SettingSlider(gr.Slider):
    """Drawn by Gradio's slider (``is_template``); values reach the handlers unchecked, to be checked there."""

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component