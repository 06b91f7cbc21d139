from pathlib import Path

import pytest

from gateway.settings import SettingsError, load_settings


def test_defaults_run_embedded_mode() -> None:
    s = load_settings(env={})
    assert s.sip.registrar == ""
    assert s.database_path == Path("headset-data/headset.sqlite3")
    assert s.codecs.browser[0] == "opus" and s.codecs.sip[0] == "pcmu"
    assert s.workers.agents_per_worker == 2


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "headset.toml"
    config.write_text('[sip]\nregistrar = "pbx.example:5060"\n[http]\nport = 9443\n'
                      '[codecs]\nbrowser = ["pcmu"]\n')
    s = load_settings(config, env={"HEADSET_HTTP_PORT": "8444",
                                   "HEADSET_ICE_HOST_ADDRESSES": "10.0.0.5, 10.0.0.6",
                                   "HEADSET_WORKERS_RTP_PORTS": "30000-30999"})
    assert s.sip.registrar == "pbx.example:5060" and s.sip_domain == "pbx.example:5060"
    assert s.http.port == 8444
    assert s.codecs.browser == ("pcmu",)
    assert s.ice.host_addresses == ("10.0.0.5", "10.0.0.6")
    assert s.workers.rtp_ports == (30000, 30999)


@pytest.mark.parametrize(("env", "named"), [
    ({"HEADSET_HTTP_PORT": "eighty"}, "http.port"),
    ({"HEADSET_HTTP_PORT": "70000"}, "http.port"),
    ({"HEADSET_SIP_REGISTRAR": "pbx.example"}, "sip.registrar"),
    ({"HEADSET_SIP_REGISTRAR": "pbx.example:50²"}, "sip.registrar"),  # isdigit, not int
    ({"HEADSET_SIP_REGISTRAR": "pbx.example:" + "5" * 5000}, "sip.registrar"),  # nor this
    ({"HEADSET_HTTP_PORT": "8" * 5000}, "http.port"),
    ({"HEADSET_SIP_REGISTRAR": "[::1]:5060"}, "sip.registrar"),  # workers: IPv4 only
    ({"HEADSET_SIP_TRANSPORT": "carrier-pigeon"}, "sip.transport"),
    ({"HEADSET_CODECS_SIP": "opus"}, "codecs.sip"),
    ({"HEADSET_ICE_HOST_ADDRESSES": "not-an-ip"}, "ice.host_addresses[0]"),
    ({"HEADSET_WORKERS_SIP_PORTS": "6000-5000"}, "workers.sip_ports"),
    ({"HEADSET_WORKERS_SIP_PORTS": "49990-50010"}, "workers.sip_ports"),  # into RTP's
    ({"HEADSET_WORKERS_BIND": "::"}, "workers.bind"),
    ({"HEADSET_WORKERS_BIND": "::1"}, "workers.bind"),
    ({"HEADSET_WORKERS_AGENTS_PER_WORKER": "3"}, "workers.agents_per_worker"),
    ({"HEADSET_LANGUAGE": "fr"}, "language"),
    ({"HEADSET_REGION": "XX"}, "region"),
    ({"HEADSET_REGION": "es"}, "region"),
    ({"HEADSET_AREA_CODE": "11a"}, "area_code"),
    ({"HEADSET_AREA_CODE": "123456"}, "area_code"),
])
def test_a_wrong_setting_is_named(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings(env=env)
    assert str(error.value).startswith(named)


def test_numbering_region_and_area_code() -> None:
    assert (load_settings(env={}).region, load_settings(env={}).area_code) == ("ES", "")
    s = load_settings(env={"HEADSET_REGION": "BR", "HEADSET_AREA_CODE": "11"})
    assert (s.region, s.area_code) == ("BR", "11")


def test_unknown_keys_and_broken_files_are_named(tmp_path: Path) -> None:
    config = tmp_path / "h.toml"
    config.write_text("[sip]\nregistar = 'typo:5060'\n")
    with pytest.raises(SettingsError, match="registar"):
        load_settings(config, env={})
    config.write_text("[sip\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(config, env={})
    with pytest.raises(SettingsError, match="cannot be read"):
        load_settings(tmp_path / "missing.toml", env={})


def test_the_readme_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    example = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "headset.toml"
    config.write_text(example)
    s = load_settings(config, env={})
    assert s.sip.registrar == "pbx.example:5060" and s.region == "ES"
