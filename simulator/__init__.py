"""Paper Kalshi and Polymarket exchanges that speak the real APIs, on loopback: tradetape's default upstream."""

from .clock import SimClock
from .faults import FaultInjector
from .server import RunningSimulator, Simulator, start_simulator

__all__ = ["FaultInjector", "RunningSimulator", "SimClock", "Simulator", "start_simulator"]
