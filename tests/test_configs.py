"""Every YAML in conf/ composes and instantiates (lightning-hydra-template's config test, for all groups)."""

from __future__ import annotations

from pathlib import Path

import hydra
import pytest
import torch
from omegaconf import OmegaConf

from attentune.errors import ConfigError
from attentune.tasks.build import make_trainer
from attentune.tasks.instantiate import instantiate
from attentune.tasks.runconfig import apply_example_budget, validate_config
from attentune.tuning.config import base_training_config
from attentune.tuning.space import apply_params, derived_values, param_space, use_task_search
from attentune.tuning.study import check_keys
from conftest import CONF_DIR, compose_config


def options(group: str) -> list[str]:
    return sorted(p.stem for p in (Path(CONF_DIR) / group).glob("*.yaml"))


@pytest.mark.parametrize("name", options("data"))
def test_data(name, tmp_path):
    extra = []
    if name == "csv":
        rows = "".join(f"text {i} {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n" for i in range(40))
        (tmp_path / "d.csv").write_text("text,label\n" + rows)
        extra = [f"data.path={tmp_path}/d.csv"]
    if name == "squad":  # a user's SQuAD file: the synthetic set's, written out
        from attentune.tasks.qa.synth import write

        extra = [f"data.train_path={write(tmp_path / 'sq')['train']}"]
    qa = name.startswith("squad")
    cfg = compose_config("train", [f"data={name}", *extra, *(["task=qa"] if qa else [])], tmp_path)
    dataset = instantiate(cfg.data, "data")
    assert len(dataset.train) > len(dataset.val) > 0
    if qa:  # question answering data: every answer is where it says in its context
        ex = next(e for e in dataset.test if e.answerable)
        (text, start), *_ = ex.answers
        assert ex.context[start : start + len(text)] == text
    else:
        assert dataset.num_classes >= 2


@pytest.mark.parametrize("name", options("model"))
def test_model_and_its_tokenizer(name, tmp_path):
    cfg = compose_config("train", [f"model={name}"], tmp_path)
    validate_config(cfg)
    model = instantiate(cfg.model, "model", vocab_size=cfg.tokenizer.vocab_size, num_classes=3)
    ids = torch.randint(1, 100, (2, 7))
    assert model.eval()(ids, torch.ones_like(ids, dtype=torch.bool)).shape == (2, 3)


@pytest.mark.parametrize("name", options("tokenizer"))
def test_tokenizer(name, tmp_path):
    validate_config(compose_config("train", [f"tokenizer={name}"], tmp_path))


@pytest.mark.parametrize("group", ["trainer", "logger", "callbacks"])
def test_trainer_logger_callbacks(group, tmp_path):
    for name in options(group):
        if group == "trainer" and name in ("gpu", "ddp") and not torch.cuda.is_available():
            continue
        cfg = compose_config("train", [f"{group}={name}"], tmp_path / name)
        assert make_trainer(cfg) is not None


@pytest.mark.parametrize("name", options("experiment"))
def test_experiment(name, tmp_path):
    validate_config(compose_config("train", [f"experiment={name}"], tmp_path))


@pytest.mark.parametrize("name", options("search"))
def test_search_space_applies_to_its_family(name, tmp_path):
    model = name if name in options("model") else "mha"
    cfg = compose_config("tune", [f"model={model}", f"search={name}"], tmp_path)
    space, derived = param_space(cfg.search), derived_values(cfg.search)
    base = base_training_config(cfg)
    check_keys(OmegaConf.create(base), space, derived)
    sample = {k: (v["grid_search"][0] if isinstance(v, dict) else v.sample()) for k, v in space.items()}
    validate_config(apply_params(OmegaConf.create(base), sample, derived))


@pytest.mark.parametrize("model", options("model"))
def test_every_familys_tiny_search_samples_configs_its_model_accepts(model, tmp_path):
    # experiment=tiny adds tokenizer.vocab_size {500, 1000} to every space: MiniLM's vocabulary is fixed
    own = ["tokenizer.vocab_size=30522"] if model == "minilm" else []  # tiny's 500 is not MiniLM's
    cfg = compose_config("tune", [f"model={model}", "experiment=tiny", *own], tmp_path)
    use_task_search(cfg)
    space, derived = param_space(cfg.search), derived_values(cfg.search)
    assert ("tokenizer.vocab_size" in space) == (model != "minilm")
    for _ in range(3):
        sample = {k: (v["grid_search"][0] if isinstance(v, dict) else v.sample()) for k, v in space.items()}
        validate_config(apply_params(OmegaConf.create(base_training_config(cfg)), sample, derived))


@pytest.mark.parametrize("model", ["mha", "minilm"])
def test_tuning_trials_train_in_rounds_of_a_fraction_of_an_epoch(model, tmp_path):
    cfg = compose_config("tune", [f"model={model}", "rounds_per_epoch=4"], tmp_path)
    trial = apply_params(OmegaConf.create(base_training_config(cfg)), {}, derived_values(cfg.search))
    trial.paths.output_dir = str(tmp_path)  # a trial's own directory
    apply_example_budget(trial, train_size=8453)  # mr's training split
    trainer = make_trainer(trial)
    # minilm fine-tunes in whole epochs on its example budget: one pass over mr's 8453
    expected = (1, 1.0) if model == "minilm" else (cfg.epochs * 4, 0.25)
    assert (trainer.max_epochs, trainer.limit_train_batches) == pytest.approx(expected)
    assert cfg.scheduler.max_t == cfg.epochs * 4  # ASHA's rungs count rounds


@pytest.mark.parametrize(("data", "passes"), [("mr", 1), ("trec", 2), ("bbc_news", 5)])
def test_minilm_example_budget_gives_smaller_datasets_more_passes(data, passes, tmp_path):
    cfg = compose_config("tune", ["model=minilm", f"data={data}"], tmp_path)
    trial = apply_params(OmegaConf.create(base_training_config(cfg)), {}, derived_values(cfg.search))
    apply_example_budget(trial, len(instantiate(trial.data, "data").train))
    assert (trial.epochs, trial.trainer.max_epochs) == (passes, passes)  # whole epochs: one round each


def test_example_budget_outside_tuning_sets_max_epochs(tmp_path):
    cfg = compose_config("train", ["train_examples=1000"], tmp_path)
    apply_example_budget(cfg, train_size=300)
    assert cfg.trainer.max_epochs == 3
    apply_example_budget(cfg, train_size=5000)
    assert cfg.trainer.max_epochs == 1  # never zero passes: one partial pass of 1000 of the 5000 examples
    assert cfg.trainer.limit_train_batches == pytest.approx(0.2)


@pytest.mark.parametrize(("size", "examples"), [(20_000, 20_000), (50_000, 32_000), (200_000, 32_000)])
def test_minilm_trains_one_pass_up_to_its_cap_and_then_costs_the_same_on_any_data_size(size, examples, tmp_path):
    # MiniLM's [8000, 32000]: one pass, but the time a trial needs (and its study's budget) stops growing at 32000
    cfg = compose_config("tune", ["model=minilm"], tmp_path)
    trial = apply_params(OmegaConf.create(base_training_config(cfg)), {}, derived_values(cfg.search))
    apply_example_budget(trial, train_size=size)
    assert trial.trainer.max_epochs * trial.trainer.limit_train_batches * size == pytest.approx(examples)


@pytest.mark.parametrize("bad", ["[8000]", "[32000,8000]", "[0,10]", "-5", "[1.5,3]"])
def test_a_bad_example_budget_is_a_config_error(bad, tmp_path):
    cfg = compose_config("train", [f"train_examples={bad}"], tmp_path)
    with pytest.raises(ConfigError, match="train_examples must be"):
        validate_config(cfg)


@pytest.mark.parametrize("group", ["searcher", "scheduler"])
def test_searchers_and_schedulers(group, tmp_path):
    for name in options(group):
        cfg = compose_config("tune", [f"{group}={name}"], tmp_path)
        assert hydra.utils.instantiate(cfg[group]) is not None


@pytest.mark.parametrize("name", ["evaluate", "leaderboard"])
def test_other_primary_configs_compose(name, tmp_path):
    cfg = compose_config(name, [], tmp_path)
    assert cfg.task_name == name


def test_minilm_trials_run_one_at_a_time_on_every_cpu_and_others_side_by_side(tmp_path):
    minilm = compose_config("tune", ["model=minilm", "ray.num_cpus=4"], tmp_path)
    assert (minilm.max_concurrent, minilm.resources.cpu) == (1, 4)
    mha = compose_config("tune", ["model=mha", "ray.num_cpus=4"], tmp_path)
    assert (mha.max_concurrent, mha.resources.cpu) == (2, 1)
    mine = compose_config("tune", ["model=minilm", "max_concurrent=2", "resources.cpu=1"], tmp_path)
    assert (mine.max_concurrent, mine.resources.cpu) == (2, 1)  # the command line still decides


@pytest.mark.parametrize("size,epochs,fraction", [(8452, 6, 1 / 3), (50_000, 2, 1 / 3), (250_000, 1, 0.4 / 3)])
def test_a_trials_examples_are_capped_so_its_cost_stops_growing_with_the_data(size, epochs, fraction, tmp_path):
    cfg = compose_config("tune", ["model=mha"], tmp_path)
    trial = apply_params(OmegaConf.create(base_training_config(cfg)), {}, derived_values(cfg.search))
    apply_example_budget(trial, train_size=size)
    assert (trial.epochs, trial.trainer.max_epochs) == (epochs, epochs * 3)
    assert trial.trainer.limit_train_batches == pytest.approx(fraction)
    assert trial.epochs * trial.trainer.limit_train_batches * 3 * size <= max(100_000, 6 * 8452)
