"""A package whose import starts a thread: what the fork server must refuse to fork after."""

import threading
import time

threading.Thread(target=time.sleep, args=(3600,), daemon=True, name="sleeper").start()
