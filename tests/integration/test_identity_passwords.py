"""Identity's password hashing gives its memory back once it has been idle a moment."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from emporium.services.identity.passwords import Passwords


def cheap(give_back: list[float], after: float) -> Passwords:
    loop = asyncio.get_running_loop()
    return Passwords(
        time_cost=1,
        memory_kib=64,
        parallelism=1,
        give_back_after=after,
        give_back=lambda: give_back.append(loop.time()),
    )


async def test_memory_is_given_back_once_after_the_last_hash_of_a_burst() -> None:
    given: list[float] = []
    passwords = cheap(given, after=0.2)
    loop = asyncio.get_running_loop()
    await asyncio.gather(*(passwords.hash(f"password {n}") for n in range(6)))
    done = loop.time()
    await asyncio.sleep(0.05)
    assert given == []  # not while the next hash may come at once
    await asyncio.sleep(0.4)
    assert len(given) == 1
    assert given[0] - done >= 0.15


async def test_a_hash_within_the_pause_puts_the_give_back_off() -> None:
    given: list[float] = []
    passwords = cheap(given, after=0.3)
    stored = await passwords.hash("first")
    for _ in range(4):  # one hash every 0.1 s: never idle for 0.3 s
        await asyncio.sleep(0.1)
        assert await passwords.verify(stored, "first")
    assert given == []
    await asyncio.sleep(0.5)
    assert len(given) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_a_burst_of_real_hashes_leaves_no_memory_behind() -> None:
    # In a process of its own: the main-heap setting must come before any thread.
    script = textwrap.dedent(
        """
        import asyncio, re
        from emporium.services.identity.passwords import Passwords, hash_on_the_main_heap

        def rss():
            status = open("/proc/self/status").read()
            return int(re.search(r"VmRSS:\\s+(\\d+)", status).group(1)) // 1024

        async def main():
            print("main heap", hash_on_the_main_heap())
            passwords = Passwords(
                time_cost=1, memory_kib=19 * 1024, parallelism=1, give_back_after=0.2
            )
            before = rss()
            for _ in range(3):
                await passwords.hash("a long passphrase")
            held = rss()
            await asyncio.sleep(0.6)
            print("rss", before, held, rss())

        asyncio.run(main())
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    if lines.get("main") != "heap True":
        pytest.skip(f"not glibc: {result.stdout!r}")
    before, held, after = (int(v) for v in lines["rss"].split())
    # A hash's 19 MiB stays for the next one (glibc trims the heap by itself
    # only past twice that); a moment after the last, it is given back.
    assert held - before >= 15, (before, held, after)
    assert after - before <= 6, (before, held, after)
