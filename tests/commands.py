"""Driving synconsole the way a user does, for tests that check Cal.com's side: commands run
in-process through the CLI against one database and the simulator, and what the simulator holds."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx


@dataclass
class Commands:
    db_url: str
    sim: Any  # a SimulatorServer
    config: Path
    invoke: Any  # the run_cli fixture
    key: str

    @property
    def env(self) -> dict[str, str]:
        return {"SYNCONSOLE_DATABASE_URL": self.db_url, "SYNCONSOLE_CALCOM_BASE_URL": self.sim.url,
                "SYNCONSOLE_CALCOM_API_KEY": self.key}

    def cli(self, *args: str, expect: int | None = 0) -> tuple[int, str, str]:
        code, out, err = self.invoke(*args, "--config", str(self.config), env=self.env)
        if expect is not None:
            assert code == expect, f"synconsole {' '.join(args)} exited {code}:\n{out}\n{err}"
        return code, out, err

    def bookings(self, appointment_id: str) -> list[dict]:
        answer = httpx.get(f"{self.sim.url}/_sim/bookings", params={"appointment_id": appointment_id},
                           timeout=10).json()
        return answer["bookings"]

    def active(self, appointment_id: str) -> list[dict]:
        return [b for b in self.bookings(appointment_id) if b["status"] in ("accepted", "pending")]

    def only_booking(self, appointment_id: str) -> dict:
        active = self.active(appointment_id)
        assert len(active) == 1, f"{appointment_id}: {len(active)} active bookings: {active}"
        return active[0]
