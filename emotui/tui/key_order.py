"""Typed keys reach the widget that has the cursor when each is handled, in the order typed.

Textual hands each key to the widget focused when the app takes the key from the terminal, and
what a key does to the focus happens later, when the key has bubbled up to its binding: tab
moves the cursor once it reaches the app, `n` pushes the launch form once it reaches the home
screen's binding, and a new screen's fields exist only once it has mounted. A burst of input (a
fast typist, a paste of keys through tmux, a loaded machine) was therefore routed before the
keys ahead of it had taken effect: characters typed after `n` went to the home screen (and `q`
among them quit), text typed after tab went into the field it left.

``KeyOrder`` (mixed into the app) takes typed keys and pastes one at a time: the next goes out
only when the one before has been handled all the way up (stopped by a widget, or through the
app's bindings), and never before the current screen has mounted. A screen that remounts the
widgets keys go to (the launch form's rows, after a method is picked) holds the keys with
``hold_keys()`` until the field that takes them has the cursor. No key waits longer than
``KEY_WAIT_S`` behind another or ``HOLD_S`` behind a hold, whatever goes wrong.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Callable

from textual import events
from textual.message_pump import MessagePump

KEY_WAIT_S = 5.0  # a key that never reports back (a widget gone mid-way) stalls typing this long
HOLD_S = 10.0  # the same behind a hold its holder never lets go


class KeyOrder:
    """Mixin for the App (before ``App`` in the bases)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._typed: deque[events.Key | events.Paste] = deque()
        self._in_flight: object | None = None  # the token of the key being handled
        self._in_flight_key: events.Event | None = None
        self._key_timer = None
        self._holds = 0
        # When the user last typed (time.monotonic): workers doing long work in pieces pause
        # right after it, so the key is handled without sharing the interpreter.
        self.input_at = 0.0

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded:
            self.input_at = time.monotonic()
            self._typed.append(event)
            await self._feed()
            return
        await super().on_event(event)

    def _on_key(self, event: events.Key) -> None:
        # A key bubbled up to the app, the last stop of its way: App._on_key runs its bindings
        # (tab's focus move, a screen's action) right after this (Textual calls each class's
        # handler), and the next key goes once what they queued on the app has run.
        if event is self._in_flight_key:
            self.call_later(self._settle, self._in_flight)

    def keys_pending(self) -> bool:
        """Whether a typed key waits or is being handled (tests wait for the last one)."""
        return bool(self._typed) or self._in_flight is not None or self._holds > 0

    def hold_keys(self) -> Callable[[], None]:
        """Hold typed keys until the returned function is called (at most HOLD_S)."""
        self._holds += 1
        released = False

        def release() -> None:
            nonlocal released
            if released:
                return
            released = True
            timer.stop()
            self._holds -= 1
            if not self._holds:
                # Through the app's queue: what the holder set off (a focus) goes first.
                self.call_later(self._feed)

        timer = self.set_timer(HOLD_S, release)
        return release

    async def _feed(self) -> None:
        """Send the next typed key, if the one before is done and nothing holds them."""
        while self._typed and self._in_flight is None and not self._holds:
            token = object()
            screen = self.screen
            if not screen.is_mounted:
                # Its fields (and the cursor) come with its mount: wait for it.
                self._wait(token)
                if not screen.call_later(self._after_mount, token):
                    self.call_later(self._key_done, token)
                return
            event = self._typed.popleft()
            self._wait(token, event)
            await super().on_event(event)
            if not event.is_forwarded:
                # Taken by a priority binding, whose action has run: done once the callbacks
                # it queued on the app (Widget.focus() is one) have run.
                self.call_later(self._key_done, token)
                return
            # As App.on_event forwarded it: to the focused widget, else the screen.
            target = self.focused or self.screen
            if not target.call_later(self._passed, target, event, token):
                self.call_later(self._key_done, token)
            return

    def _wait(self, token: object, event: events.Event | None = None) -> None:
        self._in_flight = token
        self._in_flight_key = event
        self._key_timer = self.set_timer(KEY_WAIT_S, lambda: self._key_done(token))

    def _after_mount(self, token: object) -> None:
        self.call_later(self._key_done, token)

    def _passed(self, node: MessagePump, event: events.Event, token: object) -> None:
        """``node`` has handled the key (this callback was queued behind it): follow it to the
        parent it bubbled to, or end here when it stopped."""
        if token is not self._in_flight:
            return
        parent = node._parent
        if event._stop_propagation or parent is None or parent is self:
            # Stopped here, or bubbled on to the app, where it is ahead of this in the queue.
            self.call_later(self._settle, token)
        elif not parent.call_later(self._passed, parent, event, token):
            self.call_later(self._key_done, token)

    def _settle(self, token: object) -> None:
        """On the app, after the key: done once what handling it queued on the app has run."""
        self.call_later(self._key_done, token)

    async def _key_done(self, token: object) -> None:
        if token is not self._in_flight:
            return
        self._in_flight = None
        self._in_flight_key = None
        if self._key_timer is not None:
            self._key_timer.stop()
            self._key_timer = None
        await self._feed()
