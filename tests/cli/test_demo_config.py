"""DemoConfig: one definition for flags and TOML files; bad values refused."""

import dataclasses

import pytest
from conftest import flavour_neutral

from keras_distill import cli
from keras_distill.demo import config as demo_config
from keras_distill.demo.config import DemoConfig
from keras_distill.demo.config import UsageError

pytestmark = flavour_neutral


def test_config_round_trips_through_toml(tmp_path):
    config = DemoConfig(
        dataset="digits",
        output_dir=str(tmp_path / "out dir"),
        fast=True,
        teacher='we"ird\\name.keras',
        temperature=2.5,
        alpha=0.0,
        epochs=7,
        sparsity=0.75,
        quantization="dynamic",
    )
    path = tmp_path / "demo.toml"
    path.write_text(demo_config.to_toml(config))
    assert demo_config.load_config(path) == config


def test_config_file_may_use_a_demo_table_and_dashes(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text('[demo]\ndataset = "digits"\nbatch-size = 32\n')
    config = demo_config.load_config(path)
    assert (config.dataset, config.batch_size) == ("digits", 32)


def test_unknown_config_keys_are_refused_with_the_valid_list(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text('dataset = "digits"\nepoch = 3\nlearning_rate = 0.1\n')
    with pytest.raises(UsageError) as error:
        demo_config.load_config(path)
    message = str(error.value)
    assert "epoch, learning_rate" in message
    assert "valid options:" in message and "epochs" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "values, name",
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": "10"}, "epochs"),
        ({"fast": "yes"}, "fast"),
        ({"alpha": 1.5}, "alpha"),
        ({"temperature": 0}, "temperature"),
        ({"sparsity": 1.0}, "sparsity"),
        ({"quantization": "int4"}, "quantization"),
        ({"dataset": ""}, "dataset"),
    ],
)
def test_bad_values_name_the_option(values, name):
    with pytest.raises(UsageError, match=f"'{name}'"):
        demo_config.config_from_dict(values)


def test_invalid_toml_is_one_clear_error(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text("dataset = digits\n")
    with pytest.raises(UsageError, match="not valid TOML"):
        demo_config.load_config(path)


def test_missing_config_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        demo_config.load_config(tmp_path / "nope.toml")


def test_every_option_has_a_flag_with_help_and_the_same_default():
    parser = cli.build_parser()
    demo = parser._subparsers._group_actions[0].choices["demo"]
    actions = {action.dest: action for action in demo._actions}
    for field in dataclasses.fields(DemoConfig):
        assert field.name in actions, field.name
        assert actions[field.name].help, field.name
        assert field.metadata["help"] in actions[field.name].help
    assert set(actions) - {"help", "config", "verbose"} == set(
        demo_config.field_names()
    )


def test_flags_override_the_config_file_which_overrides_defaults(tmp_path):
    path = tmp_path / "demo.toml"
    path.write_text('dataset = "digits"\nepochs = 5\nsparsity = 0.25\n')
    args = cli.build_parser().parse_args(
        ["demo", "--config", str(path), "--epochs", "9", "--no-fast"]
    )
    config = cli.config_from_args(args)
    assert config == DemoConfig(dataset="digits", epochs=9, sparsity=0.25, fast=False)


def test_yaml_config_file_gives_the_same_config_as_toml(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "demo.yaml"
    path.write_text("demo:\n  dataset: digits\n  epochs: 4\n  fast: true\n")
    config = demo_config.load_config(path)
    assert config == DemoConfig(dataset="digits", epochs=4, fast=True)


def test_config_file_that_is_not_a_table_is_refused(tmp_path):
    pytest.importorskip("yaml")
    path = tmp_path / "demo.yml"
    path.write_text("- dataset\n- digits\n")
    with pytest.raises(UsageError, match="must hold option names"):
        demo_config.load_config(path)
