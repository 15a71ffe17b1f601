"""What the noxfile needs besides its sessions: interpreters, installs, tools.

The noxfile imports this package (from `.ci/`, put on sys.path by the
noxfile) so that it reads as the list of sessions. It runs in nox's own
environment, where bot_persistence is not installed: nothing here imports it.
"""
