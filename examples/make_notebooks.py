"""Writes the Colab notebooks in examples/ from the cells below.

Edit the cells here, then run `python examples/make_notebooks.py`; a test checks
that the .ipynb files match this script, and CI executes them with small epochs
(tests/cli/test_notebooks.py), so they never rot.

Every notebook starts with the same two cells: one that installs keras-distill
in Colab (and does nothing elsewhere), and a `parameters` cell whose values CI
replaces.
"""

import pathlib

import nbformat

HERE = pathlib.Path(__file__).resolve().parent

INSTALL = """\
# In Colab, install keras-distill first; elsewhere (a local checkout, CI) skip it.
import sys

IN_COLAB = "google.colab" in sys.modules
if IN_COLAB:
    # The package name on PyPI; from a clone use `pip install -e .` instead.
    %pip install --quiet keras-distill"""

TF_KERAS = """\
# TF-MOT (pruning, quantization-aware training) needs tf_keras: choose it before
# anything imports TensorFlow. (In Colab: Runtime > Restart, then run from here.)
import os

os.environ["TF_USE_LEGACY_KERAS"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")"""


def _parameters(text: str):
    cell = nbformat.v4.new_code_cell(text)
    cell.metadata["tags"] = ["parameters"]
    return cell


def _notebook(title: str, intro: str, cells: list, parameters: str):
    code = nbformat.v4.new_code_cell
    md = nbformat.v4.new_markdown_cell
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    notebook.metadata["colab"] = {"provenance": []}
    notebook.cells = [
        code(INSTALL),
        md(f"# {title}\n\n{intro}"),
        _parameters(parameters),
        *[md(c[3:]) if c.startswith("## ") else code(c) for c in cells],
    ]
    return notebook


DISTIL_IN_TEN_LINES = _notebook(
    "Distil in ten lines",
    "A 1-D CNN teacher (~94 % on MNIST-1D) teaches an MLP with two hidden "
    "layers of 100 units. Teacher and student see the same Mixup batches "
    "(consistent teaching), which lifts the MLP far above what labels alone give "
    "it. Runs offline in a few minutes on a CPU.",
    [
        "## The ten lines",
        """\
import keras_distill
from keras_distill.demo import presets
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.data import load_dataset

data = load_dataset("mnist1d", batch_size=128)  # 4000 train / 1000 test, offline
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

teacher = presets.teacher_preset(data)  # models take raw inputs, output logits
teacher.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
teacher.fit(data.train, epochs=TEACHER_EPOCHS, verbose=0)

distiller = keras_distill.Distiller(
    student=presets.student_preset("mlp", data), teacher=teacher,
    temperature=2.0, alpha=0.0, augmentation=Mixup(alpha=1.0))
distiller.compile(optimizer=keras.optimizers.Adam(2e-3), loss=loss,
                  metrics=["accuracy"])
history = distiller.fit(data.train, validation_data=data.test, epochs=EPOCHS,
                        verbose=0)""",
        "## How well did it learn?",
        """\
baseline = presets.student_preset("mlp", data)  # the same MLP, labels only
baseline.compile(optimizer=keras.optimizers.Adam(2e-3), loss=loss,
                 metrics=["accuracy"])
baseline.fit(data.train, epochs=EPOCHS, verbose=0)

results = {
    "teacher": teacher.evaluate(data.test, verbose=0)[1],
    "student, labels only": baseline.evaluate(data.test, verbose=0)[1],
    "student, distilled": distiller.evaluate(data.test, verbose=0, return_dict=True)[
        "accuracy"
    ],
}
for name, accuracy in results.items():
    print(f"{name:22s} {100 * accuracy:5.1f} %")""",
        """\
import matplotlib.pyplot as plt

plt.plot(history.history["val_accuracy"], label="distilled student")
plt.xlabel("epoch")
plt.ylabel("test accuracy")
plt.legend()
plt.show()""",
        "## Keep the student\n\n`distiller.student` is a plain Keras model.",
        """\
import os
import tempfile

path = os.path.join(tempfile.mkdtemp(), "student.keras")
distiller.student.save(path)
print(path, os.path.getsize(path), "bytes")""",
    ],
    "# CI replaces these with small values.\nEPOCHS = 300\nTEACHER_EPOCHS = 100",
)

TO_ANDROID = _notebook(
    "Distil, prune, quantize-aware train, int8 LiteRT for Android",
    "The whole path from a teacher to an int8 `.tflite` file an Android app can "
    "load, with the same stage functions as `keras-distill demo`: distil, prune "
    "to 50 % zeros while distilling, train quantization-aware while distilling, "
    "convert, and check the file in the LiteRT interpreter.",
    [
        TF_KERAS,
        """\
import pathlib
import tempfile

from keras_distill import demo

OUT = pathlib.Path(tempfile.mkdtemp()) / "android"
data = demo.load_data("mnist1d")
teacher, source = demo.get_teacher(data, epochs=TEACHER_EPOCHS)
print(source, "teacher:", demo.evaluate(teacher, data))""",
        "## Distil",
        """\
distiller, history = demo.distil(data, teacher, method="mixup-kd", epochs=EPOCHS)
student = distiller.student
print("distilled student:", demo.evaluate(student, data))""",
        "## Prune and quantize while distilling (TF-MOT)",
        """\
compressed, info, histories = demo.compress(
    student, teacher, data, method="mixup-kd", sparsity=0.5, quantization="int8",
    epochs=COMPRESS_EPOCHS)
print(info, "zeros:", demo.zero_fraction(compressed))""",
        "## Export and verify in LiteRT",
        """\
float_report = demo.export(student, data, OUT, "student", "float32")
int8_report = demo.export(compressed, data, OUT, "student", "int8")
print(float_report.summary())
print(int8_report.summary())
print(sorted(p.name for p in OUT.iterdir()))""",
        "## Run it as the app will\n\nThe file takes raw inputs: the "
        "normalization is inside the model.",
        """\
import numpy as np
from ai_edge_litert.interpreter import Interpreter

interpreter = Interpreter(model_path=int8_report.path)
interpreter.allocate_tensors()
inp = interpreter.get_input_details()[0]
out = interpreter.get_output_details()[0]
x, y = data.arrays("test", 1)
interpreter.set_tensor(inp["index"], x.astype(inp["dtype"]))
interpreter.invoke()
labels = (OUT / "labels.txt").read_text().split()
print("predicted", labels[int(np.argmax(interpreter.get_tensor(out["index"])))],
      "true", labels[int(y[0])])""",
        "## On Android\n\nCopy `student_int8.tflite` and `labels.txt` into "
        "`app/src/main/assets/`, add `com.google.ai.edge.litert:litert` to the "
        "app's dependencies, and run the file with `Interpreter` (or "
        "`CompiledModel`) as above: one float input of shape "
        "`[1, 40]`, ten logits out.",
    ],
    "# CI replaces these with small values.\nEPOCHS = 300\nTEACHER_EPOCHS = 100\n"
    "COMPRESS_EPOCHS = 20",
)

CHOOSING = _notebook(
    "Feature distillation and choosing a method",
    "The same teacher and student, several ways to distil: response-based "
    "(Hinton's KL divergence), consistent teaching (Mixup seen by both models), "
    "and feature distillation (a FitNets hint from the teacher's last hidden "
    "layer to the student's). Compare them on the test split, then pick.",
    [
        """\
import keras_distill
from keras_distill import demo
from keras_distill._compat import keras
from keras_distill.augmentation import Mixup
from keras_distill.losses import Hint

data = demo.load_data("mnist1d")
teacher, _ = demo.get_teacher(data, epochs=TEACHER_EPOCHS)
loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
print([layer.name for layer in teacher.layers])""",
        "## The candidates\n\nEach is a Distiller over a fresh MLP student. "
        "`Hint` regresses the student's `hidden2` layer (100 units) onto the "
        "teacher's `features` layer through a learned Dense adapter, which is "
        "dropped from the exported student.",
        """\
def student():
    return demo.make_student(data, "mlp")


CANDIDATES = {
    "KL, T=4": lambda: keras_distill.Distiller(
        student=student(), teacher=teacher, temperature=4.0, alpha=0.1),
    "KL + hint": lambda: keras_distill.Distiller(
        student=student(), teacher=teacher, temperature=4.0, alpha=0.1,
        distillation_losses=["kl", Hint("features", "hidden2")],
        distillation_loss_weights=[1.0, 0.5]),
    "KL + Mixup (consistent)": lambda: keras_distill.Distiller(
        student=student(), teacher=teacher, temperature=2.0, alpha=0.0,
        augmentation=Mixup(alpha=1.0)),
}

results = {}
for name, make in CANDIDATES.items():
    distiller = make()
    distiller.compile(optimizer=keras.optimizers.Adam(2e-3), loss=loss,
                      metrics=["accuracy"])
    distiller.fit(data.train, epochs=EPOCHS, verbose=0)
    results[name] = demo.evaluate(distiller.student, data)
    print(f"{name:26s} {100 * results[name]:5.1f} %")""",
        """\
import matplotlib.pyplot as plt

names = list(results)
plt.barh(names, [100 * results[n] for n in names])
plt.xlabel("test accuracy (%)")
plt.title(f"MNIST-1D, MLP 100-100 student, {EPOCHS} epochs")
plt.show()""",
        "## Choosing\n\n- Start with consistent Mixup distillation and a long "
        "schedule: the teacher labels every mixed point, so the student sees far "
        "more of the teacher's function than the 4000 training examples.\n"
        "- Add a hint when teacher and student share a structure worth copying "
        "(similar stages of a CNN); for an MLP student of a CNN teacher it "
        "helps less.\n- Compare on held-out data, with the schedule you will "
        "really use: methods rank differently after 5 epochs than after 300.\n"
        "- `keras-distill demo --method NAME` runs any of the demo's methods "
        "end to end.",
    ],
    "# CI replaces these with small values.\nEPOCHS = 100\nTEACHER_EPOCHS = 100",
)

NOTEBOOKS = {
    "01_distil_in_ten_lines.ipynb": DISTIL_IN_TEN_LINES,
    "02_prune_quantize_litert_android.ipynb": TO_ANDROID,
    "03_feature_distillation_and_methods.ipynb": CHOOSING,
}


def main():
    for name, notebook in NOTEBOOKS.items():
        nbformat.validate(notebook)
        nbformat.write(notebook, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
