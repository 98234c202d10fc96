"""``netdef check-grads`` through CliRunner."""

from click.testing import CliRunner

from netdef.cli import cli

from conftest import LAYERS, cli_failed, valid_text

TINY = valid_text("grads-net.cfg")


def test_check_grads_passes_on_a_small_net(tmp_path):
    net = tmp_path / "tiny.cfg"
    net.write_text(TINY)
    r = CliRunner().invoke(cli, ["check-grads", str(net), "--input-size", "6"],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "c.weight" in r.output and "ok: 4 parameters within 0.0001" in r.output


def test_check_grads_of_a_bad_file_exits_1(tmp_path):
    net = tmp_path / "bad.cfg"
    net.write_text(TINY.replace("filters=4", "filters=four"))
    r = CliRunner().invoke(cli, ["check-grads", str(net)])
    cli_failed(r, "'filters' must be an integer")


def test_compile_accepts_the_default_devices_for_a_one_device_net():
    import netdef

    net = netdef.compile_net(netdef.load(LAYERS / "quickstart.cfg", input_size=56))
    assert net(__import__("torch").zeros(1, 3, 56, 56)).shape == (1, 10)
