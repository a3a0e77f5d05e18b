"""The built-in Cal.com simulator: the demo's and the tests' Cal.com, with fault knobs and webhooks
out. A product feature beside the client (``synconsole.calcom``), not part of it; it imports
nothing of synconsole but itself. See :mod:`synconsole.simulator.server` for what it reproduces."""

from synconsole.simulator.events import DEMO_EVENT_TYPES, load_event_types, normalize_event_types
from synconsole.simulator.faults import Faults
from synconsole.simulator.server import SimulatorServer, create_app, running_simulator, serve

__all__ = ["DEMO_EVENT_TYPES", "Faults", "SimulatorServer", "create_app", "load_event_types",
           "normalize_event_types", "running_simulator", "serve"]
