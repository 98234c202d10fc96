"""The experiment file (docs/language-guide.md "The experiment file"): INI and YAML, unknown
keys, overrides, positions."""

import pytest

from netdef.errors import NetdefError
from netdef.schema import is_experiment_file, read_experiment


def test_ini_experiment_with_overrides(tmp_path):
    f = tmp_path / "exp.cfg"
    f.write_text("[train]\nlayers = net.cfg\nbatch-size = 32\nepochs = 3\n")
    exp, inline = read_experiment(f, {"epochs": "5", "color_noise": "0"})
    assert (exp.layers, exp.batch_size, exp.epochs, exp.color_noise) == ("net.cfg", 32, 5, 0.0)
    assert inline is None and is_experiment_file(f)


def test_yaml_experiment(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("train:\n  layers: net.cfg\n  inner-size: 56\n")
    exp, _ = read_experiment(f)
    assert exp.inner_size == 56 and exp.data == "builtin:shapes"


def test_one_file_form_keeps_layer_sections(tmp_path):
    f = tmp_path / "exp.cfg"
    f.write_text("[train]\nepochs=1\n[data]\ntype=data\n")
    _, inline = read_experiment(f)
    assert [s.name for s in inline.sections] == ["data"]


@pytest.mark.parametrize("name, text, message", [
    ("a.cfg", "[train]\nbatch-sise = 3\n", "a.cfg:2:1: error: [train]: unknown key 'batch-sise'; "
                                            "did you mean 'batch-size'?"),
    ("b.cfg", "[train]\nepochs = many\n",
     "b.cfg:2:10: error: [train]: 'epochs' must be an integer"),
    ("f.yaml", "train:\n  epochs:   many\n",  # a value's error points at the value
     "f.yaml:2:13: error: [train]: 'epochs' must be an integer"),
    ("c.yaml", "train: [1, 2\n", "c.yaml:2:1: error: invalid YAML"),
    ("d.yaml", "- a\n- b\n", "a YAML experiment must be a mapping"),
    ("e.cfg", "[layers]\ntype=data\n", "an experiment file needs a [train] section"),
])
def test_bad_experiments_are_located(tmp_path, name, text, message):
    f = tmp_path / name
    f.write_text(text)
    with pytest.raises(NetdefError) as exc:
        read_experiment(f)
    assert message.replace(name, str(f)) in str(exc.value) or message in str(exc.value)


def test_a_one_file_experiment_reports_repeated_keys_of_train_and_of_its_layers(tmp_path):
    from netdef.check import load

    path = tmp_path / "one.cfg"
    path.write_text("[train]\ndata = builtin:shapes\nepochs = 2\nepochs = 3\ninner-size = 16\n"
                    "[data]\ntype=data\n[fc]\ntype=fc\ninputs=data\noutputs=4\noutputs=4\n"
                    "[s]\ntype=cost.sum2\ninputs=fc\n")
    warnings = [d.message for d in load(path).diagnostics if d.severity == "warning"]
    assert warnings == ["[train]: 'epochs' is given twice (lines 3 and 4); the last value wins",
                        "layer 'fc': 'outputs' is given twice (lines 11 and 12); the last value "
                        "wins"]


@pytest.mark.parametrize("given, want", [(None, "auto"), ("auto", "auto"), ("AUTO", "auto"),
                                         ("0", 0), ("3", 3)])
def test_workers_auto_or_a_count(tmp_path, given, want):
    exp = tmp_path / "e.cfg"
    exp.write_text("[train]\nlayers = l.cfg\n")
    overrides = {} if given is None else {"workers": given}
    assert read_experiment(exp, overrides)[0].workers == want


@pytest.mark.parametrize("given", ["-1", "x", "2.5"])
def test_workers_refuses_anything_else_in_one_message(tmp_path, given):
    exp = tmp_path / "e.cfg"
    exp.write_text("[train]\nlayers = l.cfg\n")
    with pytest.raises(NetdefError) as info:
        read_experiment(exp, {"workers": given})
    lines = [ln for ln in str(info.value).splitlines() if "error:" in ln]
    assert lines == [f"<command line>: error: [train]: 'workers' must be 'auto' or a number of "
                     f"processes, 0 or more (got '{given}')"]


@pytest.mark.parametrize("setting, cpu_only, cpus, want", [
    ("auto", True, 1, 0), ("auto", True, 2, 0),   # two cores: load in the training process
    ("auto", True, 4, 2), ("auto", False, 2, 2),  # more cores, or a GPU: two workers
    (0, True, 8, 0), (3, True, 2, 3),             # a count is kept
])
def test_resolve_workers(setting, cpu_only, cpus, want):
    from netdef.data.options import resolve_workers

    assert resolve_workers(setting, cpu_only=cpu_only, cpus=cpus) == want
