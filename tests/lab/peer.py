"""What every lab peer (Kamailio, SIPp, the pjsua2 phone) shares: it is a process the
test starts and must stop, so it is a context manager around ``start``/``stop``."""

from __future__ import annotations

from types import TracebackType
from typing import Self


class LabPeer:
    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
