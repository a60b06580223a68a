"""An Input that applies its editing keys in the order they were typed.

Textual's `Input` inserts a printable key in its own `_on_key`, but its editing keys (backspace,
ctrl+u, ctrl+k, ctrl+a, the arrows...) are BINDINGS, and a non-priority binding runs only when
the key event has bubbled from the focused widget up to the App (`App._on_key` calls
`_check_bindings`), one message queue per hop. The App meanwhile forwards the next keys of a
burst straight to the Input, so a character typed right after a bound key is inserted first:
`ctrl+u 4` inserts 4, then deletes everything left of the cursor (the field ends empty);
`ctrl+a ctrl+k 7` inserts 7 at the end, then goes home and deletes it. A person typing does not
see it; keys that arrive together over a slow SSH link (or a paste of keystrokes, a macro) do.
Upstream: Textualize/textual#6605, fixed the same way by the open pull request #6631.

`FieldInput` runs its own non-priority bindings inline, in `_on_key`, when the key reaches it:
the same actions, resolved the same way (`run_action` on the widget), so every key takes effect
in arrival order. Priority bindings (the app's ctrl+r, ctrl+s...) are still checked by the App
before the key is forwarded, and keys the Input does not bind still bubble as before.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    """An Input whose editing keys cannot be overtaken by the characters typed after them."""

    async def _on_key(self, event: events.Key) -> None:
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            if binding.priority or "." in binding.action:
                continue  # the App's own (priority) keys, or an action of another namespace
            event.stop()
            event.prevent_default()  # Input._on_key is not called for this key
            await self.run_action(binding.action)
            return
