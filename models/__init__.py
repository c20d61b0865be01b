"""Tables, settings, time rules and the pure domain rules of dondoc.

Nothing here imports Prefect, reads the wall clock (except ``wall_clock``,
for shells) or connects at import time.
"""
