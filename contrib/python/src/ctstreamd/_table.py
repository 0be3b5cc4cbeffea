"""A live copy of the conntrack table, kept from the event stream."""

from __future__ import annotations

from typing import Any, Dict, Iterable, Iterator, Mapping, Optional

__all__ = ["ConntrackTable"]

Event = Dict[str, Any]

#: Event kinds that carry an entry's full state (insert or replace).
_PUT_KINDS = frozenset(("new", "update", "snapshot", "dump", "get"))


class ConntrackTable(Mapping[int, Event]):
    """The conntrack entries of a stream, keyed by their kernel ``id``.

    Feed it every item of :meth:`Client.events` in order, with
    :meth:`apply` or by iterating over :meth:`follow`:

    * ``ct`` lines with ``event`` ``new``, ``update`` or ``snapshot``
      insert the entry or replace it by the line (the newest line wins,
      so an entry that changed during the snapshot and appears both in it
      and in an event after the sync marker ends up in its newest state);
    * ``destroy`` removes the id, including the daemon's resync destroys
      (``"resync": true``) that carry nothing but the id;
    * ``snapshot`` lines are collected apart and replace the whole table
      when the ``sync`` marker comes, so entries that vanished while the
      client was disconnected go too;
    * ``overrun``, ``lost`` and ``gap`` items mark the table incomplete
      (``complete`` becomes False) until the next successful sync;
    * expectation lines and unknown types are ignored.

    The value of an entry is its last line, as the daemon sent it (live
    events do not all carry every attribute: counters, for example, come
    with destroy events only).  ``complete`` is True only between a sync
    marker without error and the next sign of loss.
    """

    def __init__(self) -> None:
        self._entries: Dict[int, Event] = {}
        self._loading: Optional[Dict[int, Event]] = None
        #: True when the table is known to mirror the kernel's.
        self.complete = False
        #: How many sync markers were applied.
        self.syncs = 0
        #: How many overrun, lost and gap items were seen.
        self.losses = 0
        #: The last overrun, lost or gap item, or a failed sync marker.
        self.last_loss: Optional[Event] = None
        #: seq of the last numbered line applied.
        self.last_seq: Optional[int] = None

    # Mapping
    def __getitem__(self, ct_id: int) -> Event:
        return self._entries[ct_id]

    def __iter__(self) -> Iterator[int]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return (f"<ConntrackTable {len(self._entries)} entries, "
                f"complete={self.complete}>")

    @property
    def loading(self) -> bool:
        """True while snapshot lines are being collected (before sync)."""
        return self._loading is not None

    def clear(self) -> None:
        """Forget everything, as before the first item."""
        self._entries = {}
        self._loading = None
        self.complete = False

    def apply(self, item: Mapping[str, Any]) -> None:
        """Apply one item of the stream."""
        kind = item.get("type")
        seq = item.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            self.last_seq = seq
        if kind == "ct":
            self._apply_ct(item)
        elif kind == "sync":
            self._entries = self._loading if self._loading is not None else {}
            self._loading = None
            self.syncs += 1
            if "error" in item:
                self.complete = False
                self.last_loss = dict(item)
            else:
                self.complete = True
        elif kind in ("overrun", "lost", "gap"):
            self.complete = False
            self.losses += 1
            self.last_loss = dict(item)
            if kind == "gap":
                # A snapshot under way belongs to the lost connection.
                self._loading = None

    def _apply_ct(self, item: Mapping[str, Any]) -> None:
        ct_id = item.get("id")
        if not isinstance(ct_id, int) or isinstance(ct_id, bool):
            return
        event = item.get("event")
        if event == "snapshot":
            if self._loading is None:
                self._loading = {}
            self._loading[ct_id] = dict(item)
            return
        target = self._loading if self._loading is not None else self._entries
        if event in _PUT_KINDS:
            target[ct_id] = dict(item)
        elif event == "destroy":
            target.pop(ct_id, None)

    def follow(self, items: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """Apply every item of ``items`` (an event stream) and hand it on."""
        for item in items:
            self.apply(item)
            yield item
