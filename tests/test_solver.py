"""utils/solver.py: the CS231n Solver, with models written here so that only
the Solver (and nnl.optim's update rules) is under test."""
import pickle

import numpy as np
import pytest

from utils import solver as solver_module
from utils.solver import Solver

NUM_CLASSES = 3
DIM = 5


class LinearSoftmax:
    """scores = X W + b, softmax loss: the smallest model a Solver can train."""

    def __init__(self, seed=0):
        rng = np.random.default_rng(seed)
        self.params = {"W": 1e-3 * rng.standard_normal((DIM, NUM_CLASSES)), "b": np.zeros(NUM_CLASSES)}

    def loss(self, X, y=None):
        scores = X.reshape(X.shape[0], -1) @ self.params["W"] + self.params["b"]  # (N, C)
        if y is None:
            return scores
        shifted = scores - scores.max(axis=1, keepdims=True)
        probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)  # (N, C)
        N = X.shape[0]
        loss = -np.log(probs[np.arange(N), y]).mean()
        dscores = probs.copy()
        dscores[np.arange(N), y] -= 1
        dscores /= N
        return loss, {"W": X.reshape(N, -1).T @ dscores, "b": dscores.sum(axis=0)}


class WalkingModel:
    """One parameter `w` that every sgd step (learning_rate 1, gradient -1)
    moves up by 1. It predicts class 0 only while w is exactly `peak`, so the
    validation accuracy (all labels 0) is 1 at that epoch and 0 elsewhere."""

    def __init__(self, peak):
        self.peak = peak
        self.params = {"w": np.zeros(1)}

    def loss(self, X, y=None):
        N = X.shape[0]
        scores = np.zeros((N, 2))  # (N, 2)
        scores[:, 0 if abs(self.params["w"][0] - self.peak) < 0.5 else 1] = 1.0
        if y is None:
            return scores
        return 0.0, {"w": -np.ones(1)}


def blobs(n, seed):
    """n points of three well separated Gaussian classes, shapes (n, DIM) and (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % NUM_CLASSES
    centres = 3.0 * rng.standard_normal((NUM_CLASSES, DIM))
    return centres[y] + rng.standard_normal((n, DIM)), y


@pytest.fixture
def data():
    X_train, y_train = blobs(200, seed=1)
    X_val, y_val = blobs(60, seed=1)
    return {"X_train": X_train, "y_train": y_train, "X_val": X_val, "y_val": y_val}


@pytest.fixture
def walk_data():
    """Data for WalkingModel: 200 training examples (one iteration per epoch
    with batch_size 200), every label 0."""
    return {"X_train": np.zeros((200, 1)), "y_train": np.zeros(200, dtype=int),
            "X_val": np.zeros((30, 1)), "y_val": np.zeros(30, dtype=int)}


def quiet_solver(model, data, **kwargs):
    kwargs.setdefault("verbose", False)
    return Solver(model, data, **kwargs)


# --- training works --------------------------------------------------------


@pytest.mark.parametrize("update_rule,learning_rate", [
    ("sgd", 0.5), ("sgd_momentum", 0.1), ("rmsprop", 0.01), ("adam", 0.01)])
def test_training_lowers_the_loss(data, update_rule, learning_rate):
    np.random.seed(0)
    solver = quiet_solver(LinearSoftmax(), data, update_rule=update_rule,
                          optim_config={"learning_rate": learning_rate}, num_epochs=5, batch_size=20)
    solver.train()
    first, last = np.mean(solver.loss_history[:5]), np.mean(solver.loss_history[-5:])
    assert last < 0.5 * first, f"{update_rule}: loss went from {first:.3f} to {last:.3f}"


def test_trained_model_beats_chance_on_validation(data):
    np.random.seed(0)
    solver = quiet_solver(LinearSoftmax(), data, optim_config={"learning_rate": 0.5}, num_epochs=5,
                          batch_size=20)
    solver.train()
    assert solver.check_accuracy(data["X_val"], data["y_val"]) > 0.8


def test_same_seed_same_run(data):
    histories = []
    for _ in range(2):
        np.random.seed(7)
        solver = quiet_solver(LinearSoftmax(), data, optim_config={"learning_rate": 0.5}, num_epochs=2,
                              batch_size=20, num_train_samples=50)
        solver.train()
        histories.append((solver.loss_history, solver.train_acc_history))
    assert histories[0] == histories[1], "np.random.seed should make training repeatable"


def test_every_parameter_gets_its_own_optimizer_state(data):
    np.random.seed(0)
    solver = quiet_solver(LinearSoftmax(), data, update_rule="adam", optim_config={"learning_rate": 1e-2},
                          num_epochs=1, batch_size=20)
    solver.train()
    assert solver.optim_configs["W"]["m"].shape == (DIM, NUM_CLASSES)
    assert solver.optim_configs["b"]["m"].shape == (NUM_CLASSES,)
    assert solver.optim_config == {"learning_rate": 1e-2}, "the caller's optim_config must not change"


# --- book-keeping ----------------------------------------------------------


@pytest.mark.parametrize("num_train,batch_size,num_epochs", [(200, 20, 3), (200, 30, 2), (10, 50, 4), (40, 40, 1)])
def test_history_lengths(data, num_train, batch_size, num_epochs):
    data = {**data, "X_train": data["X_train"][:num_train], "y_train": data["y_train"][:num_train]}
    solver = quiet_solver(LinearSoftmax(), data, batch_size=batch_size, num_epochs=num_epochs)
    solver.train()
    iterations = num_epochs * max(num_train // batch_size, 1)
    assert len(solver.loss_history) == iterations, "one loss per iteration"
    assert len(solver.train_acc_history) == num_epochs + 1, "one accuracy before training, one per epoch"
    assert len(solver.val_acc_history) == num_epochs + 1
    assert solver.epoch == num_epochs


@pytest.mark.parametrize("lr_decay", [0.5, 0.9, 1.0])
def test_learning_rate_decays_once_per_epoch(data, lr_decay):
    solver = quiet_solver(LinearSoftmax(), data, optim_config={"learning_rate": 0.1}, lr_decay=lr_decay,
                          num_epochs=3, batch_size=50)
    solver.train()
    for name, config in solver.optim_configs.items():
        assert config["learning_rate"] == pytest.approx(0.1 * lr_decay ** 3), name


def test_decayed_learning_rate_is_used_in_the_next_epoch(walk_data):
    """With lr_decay 0.5 the walker steps 1, then 0.5, then 0.25: w = 0, 1, 1.5, 1.75.
    Only w = 1.75 is within 0.5 of the peak 2, so the best (final) params show the decayed steps."""
    solver = quiet_solver(WalkingModel(peak=2), walk_data, optim_config={"learning_rate": 1.0}, lr_decay=0.5,
                          num_epochs=3, batch_size=200)
    solver.train()
    assert solver.val_acc_history == [0.0, 0.0, 0.0, 1.0]
    assert solver.model.params["w"][0] == 1.75, "steps should shrink by lr_decay after every epoch"


def test_when_nothing_improves_the_initial_params_are_kept(walk_data):
    solver = quiet_solver(WalkingModel(peak=100), walk_data, optim_config={"learning_rate": 1.0},
                          num_epochs=3, batch_size=200)
    solver.train()
    assert solver.val_acc_history == [0.0] * 4
    assert solver.model.params["w"][0] == 0.0, "no epoch beat the initial check: keep the initial params"


@pytest.mark.parametrize("peak", [0, 2, 5])
def test_model_gets_the_best_validation_params_at_the_end(walk_data, peak):
    """w walks 0, 1, ..., 6 over the epochs; validation is perfect only at w == peak."""
    solver = quiet_solver(WalkingModel(peak), walk_data, optim_config={"learning_rate": 1.0}, num_epochs=6,
                          batch_size=200)
    solver.train()
    assert solver.val_acc_history == [1.0 if epoch == peak else 0.0 for epoch in range(7)]
    assert solver.best_val_acc == 1.0
    assert solver.model.params["w"][0] == peak, (
        f"training ended at w=6 but the best validation accuracy was at w={peak}: "
        f"the model should get best_params back")


def test_best_params_are_copies(walk_data):
    solver = quiet_solver(WalkingModel(1), walk_data, optim_config={"learning_rate": 1.0}, num_epochs=3,
                          batch_size=200)
    solver.train()
    solver.model.params["w"][0] = 42.0
    assert solver.best_params["w"][0] == 1.0, "changing the model must not change best_params"


def test_best_params_survive_an_update_rule_that_works_in_place(walk_data):
    """A student's sgd doing `w -= lr * dw` must not rewrite the saved best parameters."""
    def sgd_in_place(w, dw, config):
        w -= config["learning_rate"] * dw
        return w, config

    solver = quiet_solver(WalkingModel(1), walk_data, optim_config={"learning_rate": 1.0}, num_epochs=3,
                          batch_size=200)
    solver.update_rule = sgd_in_place
    solver.train()
    assert solver.model.params["w"][0] == 1.0, "best_params should be copies, not the live arrays"


def test_check_accuracy_covers_every_example_in_uneven_batches():
    walker = WalkingModel(peak=0)  # predicts class 0 for everything
    solver = quiet_solver(walker, {"X_train": np.zeros((1, 1)), "y_train": np.zeros(1, int),
                                   "X_val": np.zeros((1, 1)), "y_val": np.zeros(1, int)})
    y = np.array([0] * 7 + [1] * 3)
    assert solver.check_accuracy(np.zeros((10, 1)), y, batch_size=3) == 0.7


def test_check_accuracy_subsamples_without_repetition():
    walker = WalkingModel(peak=0)
    solver = quiet_solver(walker, {"X_train": np.zeros((1, 1)), "y_train": np.zeros(1, int),
                                   "X_val": np.zeros((1, 1)), "y_val": np.zeros(1, int)})
    y = np.array([0] * 50 + [1] * 50)
    np.random.seed(3)
    # 99 distinct examples out of these 100 always hold 49 or 50 correct ones.
    accuracies = {solver.check_accuracy(np.zeros((100, 1)), y, num_samples=99) for _ in range(20)}
    assert accuracies <= {49 / 99, 50 / 99}, "subsampling should not draw an example twice"


def test_verbose_prints_losses_and_accuracies(data, capsys):
    solver = Solver(LinearSoftmax(), data, num_epochs=1, batch_size=50, print_every=2)
    solver.train()
    out = capsys.readouterr().out
    assert "(Iteration 1 / 4) loss:" in out and "(Iteration 3 / 4) loss:" in out
    assert "(Epoch 0 / 1) train acc:" in out and "(Epoch 1 / 1) train acc:" in out


def test_quiet_solver_prints_nothing(data, capsys):
    quiet_solver(LinearSoftmax(), data, num_epochs=1, batch_size=50).train()
    assert capsys.readouterr().out == ""


# --- checkpoints -----------------------------------------------------------


def test_a_checkpoint_per_epoch_that_loads(data, tmp_path):
    name = tmp_path / "ckpt"
    solver = quiet_solver(LinearSoftmax(), data, num_epochs=3, batch_size=50, checkpoint_name=str(name))
    solver.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"ckpt_epoch_{e}.pkl" for e in (1, 2, 3)]
    for epoch in (1, 2, 3):
        with open(tmp_path / f"ckpt_epoch_{epoch}.pkl", "rb") as f:
            checkpoint = pickle.load(f)
        assert checkpoint["epoch"] == epoch
        assert len(checkpoint["loss_history"]) == 4 * epoch
        assert checkpoint["update_rule"] == "sgd"
        assert isinstance(checkpoint["model"], LinearSoftmax)


def test_checkpoint_holds_the_parameters_of_its_epoch(walk_data, tmp_path):
    solver = quiet_solver(WalkingModel(peak=0), walk_data, optim_config={"learning_rate": 1.0}, num_epochs=3,
                          batch_size=200, checkpoint_name=str(tmp_path / "walk"))
    solver.train()
    with open(tmp_path / "walk_epoch_2.pkl", "rb") as f:
        assert pickle.load(f)["model"].params["w"][0] == 2.0


def test_failed_checkpoint_write_leaves_no_file(data, tmp_path, monkeypatch):
    def broken_dump(obj, f):
        f.write(b"half a pickle")
        raise OSError("disk full")

    monkeypatch.setattr(solver_module.pickle, "dump", broken_dump)
    solver = quiet_solver(LinearSoftmax(), data, num_epochs=1, batch_size=50,
                          checkpoint_name=str(tmp_path / "ckpt"))
    with pytest.raises(OSError, match="disk full"):
        solver.train()
    assert list(tmp_path.iterdir()) == [], "neither a half-written checkpoint nor a temporary file"


def test_checkpoint_folder_must_exist(data, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        quiet_solver(LinearSoftmax(), data, checkpoint_name=str(tmp_path / "missing" / "ckpt"))


# --- bad arguments ---------------------------------------------------------


def test_unknown_keyword_arguments_are_named(data):
    with pytest.raises(ValueError, match='"learning_rate", "epochs"'):
        Solver(LinearSoftmax(), data, learning_rate=1e-3, epochs=3)


@pytest.mark.parametrize("rule", ["sgdd", "Adam", "np", "__name__", ""])
def test_unknown_update_rule_lists_the_real_ones(data, rule):
    with pytest.raises(ValueError) as info:
        Solver(LinearSoftmax(), data, update_rule=rule)
    assert f'"{rule}"' in str(info.value)
    assert "adam, rmsprop, sgd, sgd_momentum" in str(info.value)


@pytest.mark.parametrize("missing", ["X_train", "y_train", "X_val", "y_val"])
def test_missing_data_key_is_named(data, missing):
    del data[missing]
    with pytest.raises(ValueError, match=missing):
        Solver(LinearSoftmax(), data)


def test_labels_and_images_must_match(data):
    data["y_val"] = data["y_val"][:-1]
    with pytest.raises(ValueError, match="X_val has 60 rows but y_val has 59 labels"):
        Solver(LinearSoftmax(), data)


@pytest.mark.parametrize("kwargs", [dict(batch_size=0), dict(num_epochs=-1), dict(print_every=0)])
def test_impossible_sizes_are_rejected(data, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        Solver(LinearSoftmax(), data, **kwargs)
