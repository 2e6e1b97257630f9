"""payments: payment intents per order and a simulated card processor."""
