"""An Input that applies every key of a burst in the order it was typed, in the right field.

Textual's `Input` inserts a printable key in its own `_on_key`, but its editing keys (backspace,
ctrl+u, ctrl+k, ctrl+a, the arrows...) are BINDINGS, and a non-priority binding runs only when
the key event has bubbled from the focused widget up to the App (`App._on_key` calls
`_check_bindings`), one message queue per hop. The App meanwhile forwards the next keys of a
burst straight to the Input, so a character typed right after a bound key is inserted first:
`ctrl+u 4` inserts 4, then deletes everything left of the cursor (the field ends empty);
`ctrl+a ctrl+k 7` inserts 7 at the end, then goes home and deletes it. A person typing does not
see it; keys that arrive together over a slow SSH link (or a paste of keystrokes, a macro) do.
Upstream: Textualize/textual#6605; the open pull request #6631 runs a widget's own bindings
inline, which is half of what is needed here.

The other half: the App routes each key to the widget focused *when the App reads the key*, but
a plain (non-priority) tab binding moves the focus only after bubbling up. In `tab ctrl+u 4`
all three keys would go to the field being left; the form therefore binds tab and shift+tab
with priority (`ConfigForm.BINDINGS`), so the focus moves as the App reads the tab, and every
later key is routed to the field it was typed for.

So `FieldInput` runs, for a key it does not type (not printable), the binding the App would
run for this field: the chain from this field up to the App (its own editing keys, the form's
escape, the app's keys), at once, in arrival order, for *this* field even when the focus has
moved on meanwhile; the event then stops here. Printable keys are typed by Input as before;
priority bindings (ctrl+r, ctrl+s, the form's tab...) are run by the App before it forwards a key.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class FieldInput(Input):
    """An Input whose keys, in a burst, take effect in order and in the field they were for."""

    async def _on_key(self, event: events.Key) -> None:
        if self.check_consume_key(event.key, event.character):
            return  # typed by Input._on_key, as always
        if await self.run_binding(event.key):
            event.stop()
            event.prevent_default()

    async def run_binding(self, key: str) -> bool:
        """Run the first non-priority binding of `key` from this field up to the App (what
        `App._check_bindings` does for the focused widget); True when one ran."""
        for node in self.ancestors_with_self:
            for binding in node._bindings.key_to_bindings.get(key, ()):
                if not binding.priority and await self.app.run_action(binding.action, node):
                    return True
            if node.is_modal:
                break
        return False
