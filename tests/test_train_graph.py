"""train.py --policy graph end to end (subprocesses, tiny budgets), and the critic warm-up."""

from __future__ import annotations

import gymnasium as gym
import pytest
import yaml

th = pytest.importorskip("torch")  # the training extra: supportgym[train]
pytest.importorskip("sb3_contrib")

from sb3_contrib import MaskablePPO  # noqa: E402

import supportgym  # noqa: E402, F401  (registers the environment)
from agents.graph import MaskableGraphPolicy  # noqa: E402
from tests.test_evaluate import evaluate  # noqa: E402
from tests.test_train import TINY, TINY_HP, scalar_tags, train  # noqa: E402
from training.callbacks import CriticWarmup  # noqa: E402

GRAPH = ["--algo", "maskable_ppo", "--policy", "graph", *TINY, *TINY_HP["maskable_ppo"]]


def test_graph_policy_trains_logs_and_evaluates(tmp_path):
    result = train(tmp_path, "--run-dir", "g", "--timesteps", "512", "--eval-freq", "256", "--checkpoint-freq", "256",
                   "--watch-suite", "standard", *GRAPH)
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "g"
    assert yaml.safe_load((run / "config.yaml").read_text())["args"]["policy"] == "graph"
    tags = scalar_tags(run)
    for tag in ("eval/score", "eval/resolve_rate", "baselines/expert_score",
                "eval_standard/score", "baselines_standard/expert_score"):  # the watched suite
        assert tag in tags, (tag, sorted(tags))
    played = evaluate("--suite", "tutorial", "--agents", f"random,oracle,{run / 'model.zip'}", "--episodes", "3",
                      "--reps", "100", "--out", str(tmp_path / "out"))  # other slot counts: test_graph_models.py
    assert played.returncode == 0, played.stderr[-2000:]


@pytest.mark.slow
def test_resume_restores_the_graph_policy(tmp_path):
    first = train(tmp_path, "--run-dir", "g", "--timesteps", "256", "--checkpoint-freq", "128", *GRAPH)
    assert first.returncode == 0, first.stderr[-2000:]
    # the checkpoint's wrapped observation space matches only if the envs are wrapped again
    resumed = train(tmp_path, "--resume", str(tmp_path / "g"), "--timesteps", "512", "--no-progress")
    assert resumed.returncode == 0 and "resuming" in resumed.stdout, resumed.stderr[-2000:]
    assert max(int(p.name.split("_")[1]) for p in (tmp_path / "g" / "checkpoints").glob("*.zip")) >= 512


def test_warm_start_and_critic_warmup_with_the_graph_policy(tmp_path):
    result = train(tmp_path, "--run-dir", "w", "--timesteps", "256", "--eval-freq", "256", "--warm-start", "expert",
                   "--warm-start-episodes", "4", "--warm-start-epochs", "2", "--hp", "critic_warmup_steps=128",
                   *GRAPH)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "warm start: cloned expert" in result.stdout
    assert yaml.safe_load((tmp_path / "w" / "config.yaml").read_text())["hyperparams"]["critic_warmup_steps"] == 128


@pytest.mark.parametrize("args, message", [
    (["--algo", "dqn", "--policy", "graph"], "--policy graph works with ppo, maskable_ppo, not dqn"),
    (["--algo", "recurrent_ppo", "--policy", "graph"], "not recurrent_ppo"),
    (["--algo", "ppo", "--policy", "graph", "--hp", "normalize=true"], "cannot be combined with normalize"),
    (["--algo", "ppo", "--hp", "critic_warmup_steps=1.5"], "critic_warmup_steps=1.5: expected an integer >= 0"),
    (["--algo", "dqn", "--hp", "critic_warmup_steps=100"], "critic_warmup_steps works with ppo, maskable_ppo"),
    (["--eval-suite", "heldout"], "--eval-suite 'heldout' is held out"),
    (["--watch-suite", "no-such-suite"], "no-such-suite"),
])
def test_graph_and_warmup_usage_errors(tmp_path, capsys, args, message):
    import train as train_module

    code = train_module.main(["--runs-root", str(tmp_path), "--run-dir", "bad", *args, "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "bad").exists()  # nothing was written


def test_models_trained_on_the_training_distribution_are_selected_on_its_validation_draw():
    import train as train_module

    args, _ = train_module.plan(train_module.Args(suite="train", max_services=24))
    assert (args.eval_suite, args.watch_suite) == ("validation", "heldout")
    args, _ = train_module.plan(train_module.Args(suite="standard"))
    assert (args.eval_suite, args.watch_suite) == ("standard", "none")


def _parameters(module: th.nn.Module) -> list[th.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("warmup, actor_moves", [(10_000, False), (0, True)])
def test_critic_warmup_freezes_the_actor_while_the_critic_learns(warmup, actor_moves):
    th.set_num_threads(1)
    env = gym.make("supportgym/Incident-v1", suite="tutorial", disable_env_checker=True)
    model = MaskablePPO(MaskableGraphPolicy, env, n_steps=64, batch_size=64, n_epochs=1, seed=0, device="cpu",
                        policy_kwargs={"dim": 16, "message_rounds": 1})
    policy = model.policy
    actor = _parameters(policy.pi_features_extractor) + _parameters(policy.action_net)
    critic = _parameters(policy.vf_features_extractor) + _parameters(policy.value_net)
    model.learn(128, callback=CriticWarmup(warmup))
    after_actor = _parameters(policy.pi_features_extractor) + _parameters(policy.action_net)
    after_critic = _parameters(policy.vf_features_extractor) + _parameters(policy.value_net)
    assert any(not th.equal(a, b) for a, b in zip(actor, after_actor)) == actor_moves
    assert any(not th.equal(a, b) for a, b in zip(critic, after_critic))
    assert all(p.requires_grad for p in policy.parameters())  # unfrozen at the end of training


@pytest.mark.parametrize("value", ["0", "-1", "inf", "soon"])
def test_a_bad_wall_time_budget_is_a_usage_error(capsys, value):
    import train as train_module

    with pytest.raises(SystemExit) as stop:
        train_module.parse_args(["--minutes", value])
    assert stop.value.code == 2 and "--minutes: expected a positive number" in capsys.readouterr().err


def test_a_wall_time_budget_stops_training_early(tmp_path):
    result = train(tmp_path, "--run-dir", "m", "--timesteps", "1000000", "--minutes", "0.02", "--eval-freq", "100000",
                   *GRAPH)
    assert result.returncode == 0, result.stderr[-2000:]
    steps = int(result.stdout.split("finished after ")[1].split()[0])
    assert 0 < steps < 100_000 and (tmp_path / "m" / "model.zip").is_file()
