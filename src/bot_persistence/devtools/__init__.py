"""Contributor tooling: the docs check, the onboarding checklist, the command catalogue.

None of it runs in the bot's process or in ``bot-db``'s everyday commands.
"""
