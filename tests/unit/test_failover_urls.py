"""Failover URLs reach libpq as libpq means them, in each of its three forms."""

from __future__ import annotations

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from pydantic import SecretStr

from bot_persistence.connection import translate_connect_error
from bot_persistence.errors import ServerNotRunningError
from bot_persistence.settings import Settings

FORMS = {
    "netloc": "postgresql://bot:pw@db-a:5432,db-b:5433/bot?target_session_attrs=read-write",
    "repeated": "postgresql://bot:pw@/bot?host=db-a:5432&host=db-b:5433&target_session_attrs=read-write",
    "ports": "postgresql://bot:pw@/bot?host=db-a,db-b&port=5432,5433&target_session_attrs=read-write",
}


def settings_for(url: str, **values: object) -> Settings:
    return Settings.from_values(database_url=SecretStr(url), **values)


@pytest.mark.parametrize("form", sorted(FORMS))
def test_every_form_reaches_libpq_as_two_hosts_with_their_ports(form: str) -> None:
    settings = settings_for(FORMS[form])
    bot = conninfo_to_dict(settings.plain_url)  # what the bot's pool hands libpq
    tools = conninfo_to_dict(make_conninfo("", **settings.parsed_url.connect_params()))
    for params in (bot, tools):  # bot-db check/status and the bot agree
        assert params["host"] == "db-a,db-b"
        assert params["port"] == "5432,5433"
        assert params["target_session_attrs"] == "read-write"
        assert params["dbname"] == "bot"
    assert settings.address == "db-a:5432,db-b:5433"
    assert (settings.host, settings.port) == ("db-a", 5432)


def test_load_balance_hosts_and_a_single_port_for_all_pass_through() -> None:
    settings = settings_for("postgresql://bot:pw@/bot?host=a,b&port=6432&load_balance_hosts=random")
    params = conninfo_to_dict(settings.plain_url)
    assert params["host"] == "a,b" and params["port"] == "6432,6432"
    assert params["load_balance_hosts"] == "random"


def test_the_masked_url_of_a_failover_url_hides_the_password() -> None:
    settings = settings_for(FORMS["netloc"])
    assert "pw" not in settings.masked_url.replace("bot:***", "")


def test_an_outage_names_every_host_and_gives_production_advice_in_production() -> None:
    settings = settings_for(FORMS["netloc"], environment="production")
    error = translate_connect_error(psycopg.OperationalError("Connection refused"), settings)
    assert isinstance(error, ServerNotRunningError)
    assert "db-a:5432,db-b:5433" in str(error)
    assert "bot-db up" not in str(error)
    assert "BOT_DB_CONNECT_TIMEOUT" in str(error)


def test_no_primary_among_the_hosts_says_so() -> None:
    settings = settings_for(FORMS["ports"], environment="production")
    refused = psycopg.OperationalError(
        'connection to server at "db-b", port 5433 failed: server is in hot standby mode'
    )
    error = translate_connect_error(refused, settings)
    assert isinstance(error, ServerNotRunningError)
    assert "accepts writes" in str(error)
