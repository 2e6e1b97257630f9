"""The backlog probe: keeps checkout's saga admission fed with the store's numbers."""

from __future__ import annotations

from datetime import timedelta

from emporium.chassis import Clock, Database, utcnow
from emporium.chassis.periodic import Periodic
from emporium.services.orders.adapters.repository import backlog
from emporium.services.orders.service_layer.admission import SagaBacklog
from emporium.services.orders.service_layer.metrics import observe_backlog


class BacklogProbe(Periodic):
    """A worker: every ``interval`` s, counts pending and recently settled sagas.

    Reads only, so replicas may all run it. ``window`` is how far back finished
    sagas count towards throughput; ``horizon`` how old an order may be and
    still be finishing (its saga's steps' deadlines, together).
    """

    def __init__(
        self,
        admission: SagaBacklog,
        database: Database,
        *,
        interval: float,
        window: float,
        horizon: timedelta,
        clock: Clock = utcnow,
    ) -> None:
        super().__init__(name="orders-backlog-probe", interval=interval)
        self.admission = admission
        self.database = database
        self.window = window
        self.horizon = horizon
        self.clock = clock

    async def run_once(self) -> int:
        now = self.clock()
        async with self.database.session() as session:
            pending, settled = await backlog(
                session, since=now - timedelta(seconds=self.window), horizon=now - self.horizon
            )
        self.admission.observe(pending=pending, settled=settled, window=self.window)
        observe_backlog(self.admission)
        return 0
