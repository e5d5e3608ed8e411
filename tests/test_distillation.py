"""keras.io's knowledge distillation: a subclassed ``Distiller`` whose ``call`` runs the
student and whose overridden ``compute_loss`` calls the teacher. The teacher is one of the
model's variables (Keras tracks every built layer attribute), runs on the step's traced
weights, and gets the optimizer's updates exactly as in Keras."""

import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _distiller(keras):
    ops, layers = keras.ops, keras.layers

    class Distiller(keras.Model):
        def __init__(self, student, teacher):
            super().__init__()
            self.teacher = teacher
            self.student = student

        def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, alpha,
                    temperature):  # fmt: skip
            super().compile(optimizer=optimizer, metrics=metrics)
            self.student_loss_fn = student_loss_fn
            self.distillation_loss_fn = distillation_loss_fn
            self.alpha = alpha
            self.temperature = temperature

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None,
                         allow_empty=False):  # fmt: skip
            teacher_pred = self.teacher(x, training=False)
            student_loss = self.student_loss_fn(y, y_pred)
            distillation_loss = self.distillation_loss_fn(
                ops.softmax(teacher_pred / self.temperature, axis=1),
                ops.softmax(y_pred / self.temperature, axis=1),
            ) * (self.temperature**2)
            return self.alpha * student_loss + (1 - self.alpha) * distillation_loss

        def call(self, x):
            return self.student(x)

    def net(name, filters):
        return keras.Sequential(
            [
                keras.Input(shape=(8, 8, 1)),
                layers.Conv2D(filters, (3, 3), strides=(2, 2), padding="same"),
                layers.LeakyReLU(negative_slope=0.2),
                layers.Flatten(),
                layers.Dense(10),
            ],
            name=name,
        )

    return Distiller(student=net("student", 4), teacher=net("teacher", 8))


def _compile(keras, model):
    model.compile(
        optimizer=keras.optimizers.Adam(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras.losses.KLDivergence(),
        alpha=0.1,
        temperature=10,
    )


@pytest.mark.filterwarnings("ignore::lamina.training.guardrails.GuardrailWarning")
def test_distiller_trains_as_keras(keras):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(70, 8, 8, 1)).astype("float32")
    y = rng.integers(0, 10, size=(70,))
    with keras_ref():
        ref = _distiller(keras)
        teacher_w, student_w = ref.teacher.get_weights(), ref.student.get_weights()
        _compile(keras, ref)
        want = ref.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
        want_eval = ref.evaluate(x, y, verbose=0)
        want_teacher = ref.teacher.get_weights()
        n_vars = len(ref.trainable_variables)
    model = _distiller(lamina)
    model.teacher.set_weights(teacher_w)
    model.student.set_weights(student_w)
    _compile(lamina, model)
    got = model.fit(x, y, epochs=2, batch_size=32, shuffle=False, verbose=0).history
    for name, values in want.items():
        np.testing.assert_allclose(got[name], values, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.evaluate(x, y, verbose=0), want_eval, rtol=1e-4)
    assert len(model.trainable_variables) == n_vars
    for a, b in zip(model.teacher.get_weights(), want_teacher):  # Keras updates it too
        np.testing.assert_allclose(a, b, atol=1e-5)
