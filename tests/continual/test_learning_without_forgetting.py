"""Learning without Forgetting keeps the old task better than plain fine-tuning."""

import numpy as np
import pytest
from models import mlp
from models import sparse_ce
from reference import sparse_ce_per_example
from sklearn.datasets import load_digits

from keras_distill._compat import keras
from keras_distill.continual import add_task_head
from keras_distill.continual import learning_without_forgetting


def _digits():
    digits = load_digits()
    x = (digits.data / 16.0).astype("float32")
    y = digits.target.astype("int64")
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    train, test = order[:1300], order[1300:]
    return x[train], y[train], x[test], y[test]


def test_add_task_head_keeps_old_logits_and_adds_new_ones():
    old = mlp(input_dim=8, hidden=(6,), classes=3, name="old")
    new = add_task_head(old, 2)
    x = np.random.default_rng(0).normal(size=(5, 8)).astype("float32")
    out = new.predict(x, verbose=0)
    assert out.shape == (5, 5)
    np.testing.assert_allclose(out[:, :3], old.predict(x, verbose=0), rtol=1e-5)
    # The weights are copied, not shared: training the new model leaves old alone.
    assert all(w is not v for w, v in zip(new.weights, old.weights))


def test_add_task_head_refuses_subclassed_models_and_bad_class_counts():
    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(3)

        def call(self, x):
            return self.dense(x)

    sub = Sub()
    sub(np.zeros((1, 4), "float32"))
    with pytest.raises(TypeError, match="Functional API"):
        add_task_head(sub, 2)
    with pytest.raises(ValueError, match="new_classes"):
        add_task_head(mlp(), 0)


@pytest.mark.parametrize("new_task_loss", ["new_head", "all_logits"])
@pytest.mark.parametrize("one_hot", [False, True])
def test_new_task_loss_reads_the_new_head_or_all_logits(new_task_loss, one_hot):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 8)).astype("float32")
    y = rng.integers(3, 5, size=32)
    old = mlp(input_dim=8, hidden=(6,), classes=3, name="old")
    lwf = learning_without_forgetting(
        old, new_classes=2, alpha=0.5, new_task_loss=new_task_loss
    )
    loss = (
        keras.losses.CategoricalCrossentropy(from_logits=True)
        if one_hot
        else sparse_ce()
    )
    lwf.compile(keras.optimizers.SGD(0.0), loss=loss)
    labels = np.eye(5, dtype="float32")[y] if one_hot else y
    logs = lwf.evaluate(x, labels, batch_size=32, return_dict=True, verbose=0)
    logits = lwf.student.predict(x, verbose=0).astype("float64")
    if new_task_loss == "new_head":
        want = sparse_ce_per_example(y - 3, logits[:, 3:]).mean()
    else:
        want = sparse_ce_per_example(y, logits).mean()
    np.testing.assert_allclose(logs["student_loss"], want, rtol=1e-5)


def test_lwf_config_round_trip_keeps_the_new_task_loss():
    old = mlp(input_dim=8, hidden=(6,), classes=3, name="old")
    lwf = learning_without_forgetting(old, new_classes=2, new_task_loss="all_logits")
    restored = type(lwf).from_config(lwf.get_config())
    assert (restored.old_classes, restored.new_task_loss) == (3, "all_logits")
    with pytest.raises(ValueError, match="`new_task_loss` must be one of"):
        learning_without_forgetting(old, new_classes=2, new_task_loss="joint")


@pytest.mark.slow
def test_lwf_keeps_old_task_accuracy_clearly_above_plain_fine_tuning():
    x, y, xt, yt = _digits()
    old_task, new_task = y < 5, y >= 5
    old_test = yt < 5
    old = mlp(input_dim=64, hidden=(16, 16), classes=5, name="old")
    old.compile(keras.optimizers.Adam(1e-2), sparse_ce())
    old.fit(x[old_task], y[old_task], epochs=20, batch_size=64, verbose=0)

    def old_accuracy(model):
        logits = model.predict(xt[old_test], verbose=0)[:, :5]
        return float((logits.argmax(-1) == yt[old_test]).mean())

    before = old_accuracy(old)
    results = {}
    for name, alpha in [("fine_tuning", 1.0), ("lwf", 0.5)]:
        keras.utils.set_random_seed(1)
        lwf = learning_without_forgetting(old, new_classes=5, alpha=alpha)
        lwf.compile(keras.optimizers.Adam(1e-2), loss=sparse_ce())
        lwf.fit(x[new_task], y[new_task], epochs=30, batch_size=64, verbose=0)
        new_logits = lwf.student.predict(xt[~old_test], verbose=0)[:, 5:]
        new_accuracy = float((new_logits.argmax(-1) + 5 == yt[~old_test]).mean())
        results[name] = (old_accuracy(lwf.student), new_accuracy)
    print("old-task accuracy before:", before, "after (old, new):", results)
    assert before > 0.9
    assert results["lwf"][0] > results["fine_tuning"][0] + 0.2
    assert results["lwf"][0] > 0.85
    assert results["lwf"][1] > 0.85  # and it still learns the new task
