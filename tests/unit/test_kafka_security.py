"""The desk's security settings as each Kafka client library gets them (no broker needed:
tests/integration/test_sasl.py logs in to a real SASL broker with them)."""

from __future__ import annotations

import os
import ssl
import subprocess
from pathlib import Path

import certifi
import faust
import pytest
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr, ValidationError

from otcdesk.kafka import client_config
from otcdesk.settings import KafkaSecurity, Settings
from streams.app import broker_credentials
from streams.fold import aiokafka_auth

PASSWORD = "correct-horse-battery-staple"
OTCDESK = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "otcdesk"
CA = Path(certifi.where())  # any PEM CA bundle will do: only loading it is checked


def _settings(**security: object) -> Settings:
    return Settings().model_copy(update={"security": KafkaSecurity.model_validate(security)})


def _sasl(protocol: str = "SASL_PLAINTEXT", **more: object) -> Settings:
    return _settings(
        protocol=protocol, sasl_mechanism="SCRAM-SHA-512", sasl_username="desk", sasl_password=PASSWORD, **more
    )


def test_environment_variables_fill_the_security_section(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "PROTOCOL": "SASL_SSL",
        "SASL_MECHANISM": "SCRAM-SHA-256",
        "SASL_USERNAME": "desk",
        "SASL_PASSWORD": PASSWORD,
        "SSL_CAFILE": str(CA),
    }.items():
        monkeypatch.setenv(f"OTCDESK_SECURITY__{name}", value)
    sec = Settings().security
    assert (sec.protocol, sec.sasl_mechanism, sec.sasl_username, sec.ssl_cafile) == (
        "SASL_SSL",
        "SCRAM-SHA-256",
        "desk",
        CA,
    )
    assert sec.sasl_password == SecretStr(PASSWORD)


def test_plaintext_is_the_default_for_every_client() -> None:
    settings = Settings()
    assert client_config(settings)["security.protocol"] == "PLAINTEXT"
    assert aiokafka_auth(settings) == {"security_protocol": "PLAINTEXT", "ssl_context": None}
    assert broker_credentials(settings) is None


def test_sasl_scram_reaches_confluent_aiokafka_and_faust_alike() -> None:
    settings = _sasl()
    conf = client_config(settings)
    assert {k: conf[k] for k in ("security.protocol", "sasl.mechanisms", "sasl.username", "sasl.password")} == {
        "security.protocol": "SASL_PLAINTEXT",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "desk",
        "sasl.password": PASSWORD,
    }
    direct = aiokafka_auth(settings)
    via_faust = credentials_to_aiokafka_auth(broker_credentials(settings))  # what faust gives aiokafka
    for auth in (direct, via_faust):
        assert auth == {
            "security_protocol": "SASL_PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_plain_username": "desk",
            "sasl_plain_password": PASSWORD,
            "ssl_context": None,
        }


def test_tls_protocols_get_a_context_with_the_ca_file() -> None:
    for settings, protocol in (
        (_settings(protocol="SSL", ssl_cafile=CA), "SSL"),
        (_sasl("SASL_SSL", ssl_cafile=CA), "SASL_SSL"),
    ):
        assert client_config(settings)["ssl.ca.location"] == str(CA)
        for auth in (aiokafka_auth(settings), credentials_to_aiokafka_auth(broker_credentials(settings))):
            assert auth["security_protocol"] == protocol
            assert isinstance(auth["ssl_context"], ssl.SSLContext)
            assert auth["ssl_context"].cert_store_stats()["x509_ca"] > 0  # the bundle was loaded
    assert isinstance(broker_credentials(_settings(protocol="SSL")), faust.SSLCredentials)


def test_client_certificate_paths_go_to_librdkafka() -> None:
    conf = client_config(
        _settings(
            protocol="SSL",
            ssl_certfile="/etc/desk/client.pem",
            ssl_keyfile="/etc/desk/client.key",
            ssl_key_password="k3y",
        )
    )
    assert (conf["ssl.certificate.location"], conf["ssl.key.location"], conf["ssl.key.password"]) == (
        "/etc/desk/client.pem",
        "/etc/desk/client.key",
        "k3y",
    )


@pytest.mark.parametrize(
    "security",
    [
        {"protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512", "sasl_username": "desk"},  # no password
        {
            "protocol": "PLAINTEXT",
            "sasl_mechanism": "SCRAM-SHA-512",
            "sasl_username": "desk",
            "sasl_password": PASSWORD,
        },
        {"protocol": "PLAINTEXT", "ssl_cafile": "/etc/ca.pem"},
        {"protocol": "SSL", "ssl_certfile": "/etc/desk/client.pem"},  # no key
    ],
)
def test_inconsistent_security_is_refused_without_echoing_the_password(
    monkeypatch: pytest.MonkeyPatch, security: dict[str, str]
) -> None:
    for name, value in security.items():
        monkeypatch.setenv(f"OTCDESK_SECURITY__{name.upper()}", value)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "security" in str(refused.value)
    assert PASSWORD not in str(refused.value)


def test_a_misspelt_password_variable_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTCDESK_SECURITY__SASL_PASWORD", PASSWORD)
    with pytest.raises(ValidationError) as refused:
        Settings()
    assert "sasl_pasword" in str(refused.value) and PASSWORD not in str(refused.value)


def test_secrets_are_masked_in_repr_and_json() -> None:
    settings = _sasl("SASL_SSL", ssl_cafile=CA, ssl_certfile="/c.pem", ssl_keyfile="/c.key", ssl_key_password="k3y")
    for text in (repr(settings), str(settings.security), settings.model_dump_json()):
        assert PASSWORD not in text and "k3y" not in text


def test_the_cli_names_a_bad_security_setting_in_one_error_without_its_value() -> None:
    env = os.environ | {"OTCDESK_SECURITY__PROTOCOL": "PLAINTEXT", "OTCDESK_SECURITY__SASL_PASSWORD": PASSWORD}
    done = subprocess.run([str(OTCDESK), "topics", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "invalid settings: security: Value error, SASL settings given but protocol is PLAINTEXT" in " ".join(
        done.stderr.split()
    )
    assert "Traceback" not in done.stderr and PASSWORD not in done.stderr + done.stdout
