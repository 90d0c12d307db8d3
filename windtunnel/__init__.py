"""windtunnel, the application: the `windtunnel` command (`windtunnel.cli`), the hydra config tree it
composes (`windtunnel/conf/`), and study orchestration.

The library lives in the five packages below it — `body`, `tasks`, `circuits`, `training`,
`comparisons` — and imports nothing from here.
"""
