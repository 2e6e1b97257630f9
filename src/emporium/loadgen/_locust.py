"""The closed loop: simulated shoppers on Locust's local runner, in this process.

Importing this module imports Locust, which patches the standard library for
gevent; so only ``emporium load --mode closed`` imports it, and nothing here
touches asyncio. Every request is reported to the :class:`Recorder`.
"""

from __future__ import annotations

import random
import signal
import time
import uuid
import warnings
from collections.abc import Callable
from typing import Any

from gevent.monkey import MonkeyPatchWarning

# The CLI imported aiohttp (and with it ssl) before this module: gevent warns
# that those modules keep the unpatched ssl. This process only speaks plain HTTP
# through Locust from here on, so the warning does not apply.
warnings.filterwarnings("ignore", category=MonkeyPatchWarning)

import gevent  # noqa: E402
import gevent.event  # noqa: E402
from locust import FastHttpUser, between, task  # noqa: E402  (gevent patches the stdlib here)
from locust.env import Environment  # noqa: E402

from emporium.loadgen._stats import Recorder  # noqa: E402
from emporium.loadgen.shop import ROUTES, TASK_MIX, checkout_body, new_shopper  # noqa: E402

__all__ = ["run_closed_loop"]


def _shopper_class(products: list[str], think: tuple[float, float]) -> type[FastHttpUser]:
    class Shopper(FastHttpUser):
        wait_time = between(*think)
        # A request may wait out a frozen instance or a stopped broker: the
        # gateway answers within its own timeout, and so must we.
        network_timeout = 30.0
        connection_timeout = 5.0

        def on_start(self) -> None:
            self.headers: dict[str, str] = {}
            self.cart_filled = False
            body = new_shopper()
            self.client.post("/api/identity/users", json=body, name=ROUTES["sign_up"])
            credentials = {"email": body["email"], "password": body["password"]}
            with self.client.post(
                "/api/identity/token", json=credentials, name=ROUTES["sign_in"],
                catch_response=True,
            ) as response:  # fmt: skip
                if response.status_code == 200 and response.json():
                    token = response.json()["access_token"]
                    self.headers = {"Authorization": f"Bearer {token}"}
                    response.success()

        @task(TASK_MIX["home"])
        def home(self) -> None:
            self.client.get("/", name=ROUTES["home"])

        @task(TASK_MIX["browse_product"])
        def browse_product(self) -> None:
            product = random.choice(products)
            self.client.get(f"/api/catalog/products/{product}", name=ROUTES["browse_product"])

        @task(TASK_MIX["add_to_cart"])
        def add_to_cart(self) -> None:
            product = random.choice(products)
            response = self.client.put(
                f"/api/cart/items/{product}", json={"quantity": random.randint(1, 2)},
                headers=self.headers, name=ROUTES["add_to_cart"],
            )  # fmt: skip
            self.cart_filled = self.cart_filled or response.status_code == 200

        @task(TASK_MIX["view_cart"])
        def view_cart(self) -> None:
            self.client.get("/api/cart", headers=self.headers, name=ROUTES["view_cart"])

        @task(TASK_MIX["checkout"])
        def checkout(self) -> None:
            if not self.cart_filled:  # Online Boutique's checkout adds an item first
                self.add_to_cart()
            headers = {**self.headers, "Idempotency-Key": str(uuid.uuid4())}
            response = self.client.post(
                "/api/orders", json=checkout_body(), headers=headers, name=ROUTES["checkout"]
            )
            if response.status_code == 202:
                self.cart_filled = False

    return Shopper


def run_closed_loop(
    gateway: str,
    products: list[str],
    recorder: Recorder,
    *,
    users: int,
    spawn_rate: float,
    duration: float,
    think: tuple[float, float],
    tick: Callable[[], None],
) -> None:
    """Run ``users`` shoppers for ``duration`` seconds; call ``tick`` twice a second.

    SIGINT stops them early: :class:`KeyboardInterrupt` is raised once they have stopped.
    """
    environment = Environment(user_classes=[_shopper_class(products, think)], host=gateway)

    def on_request(
        name: str, response_time: float, exception: BaseException | None, response: Any,
        **_: Any,
    ) -> None:  # fmt: skip
        cause = None
        if exception is not None:
            status = getattr(response, "status_code", 0) or 0
            cause = str(status) if status else type(exception).__name__
        recorder.record(name, response_time / 1000, cause)

    environment.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    runner = environment.create_local_runner()
    # Ctrl-C (SIGINT) only sets this: left to Python, its KeyboardInterrupt
    # lands in whichever greenlet runs at that instant, and the main loop then
    # depends on gevent carrying it back. The loop ends, the shoppers stop,
    # then the interrupt is raised here, in the caller's frame.
    interrupted = gevent.event.Event()
    on_interrupt = gevent.signal_handler(signal.SIGINT, interrupted.set)
    runner.start(users, spawn_rate=spawn_rate)
    deadline = time.monotonic() + duration
    try:
        while not interrupted.is_set() and time.monotonic() < deadline:
            interrupted.wait(min(0.5, max(0.0, deadline - time.monotonic())))
            tick()
    finally:
        on_interrupt.cancel()
        runner.quit()
    if interrupted.is_set():
        raise KeyboardInterrupt
