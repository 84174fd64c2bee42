"""Billing's writes, one module per concern: subscriptions (trials, provider state, dunning),
and the modules beside it."""
