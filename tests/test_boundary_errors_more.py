"""Errors at the boundary that earlier changes added without a test: each says what was
expected, what was received and the usual fix."""

import pytest

import lamina


def test_a_call_argument_given_twice_is_refused():
    layer = lamina.layers.LSTM(2)
    x, state = lamina.ops.ones((1, 3, 2)), [lamina.ops.zeros((1, 2))] * 2
    with pytest.raises(TypeError, match="got multiple values for argument 'initial_state'"):
        layer(x, state, initial_state=state)


def test_a_non_tensor_positional_argument_is_refused_as_keras_does(keras):
    class Scale(lamina.layers.Layer):
        def call(self, x, factor=2.0):
            return x * factor

    message = "Only input tensors may be passed as positional arguments"
    with pytest.raises(ValueError, match=message):
        Scale()(lamina.ops.ones((1, 2)), 3.0)
    with pytest.raises(ValueError, match=message):
        lamina.layers.Dropout(0.5)(lamina.Input((2,)), True)


def test_keras1_model_needs_inputs_and_outputs():
    x = lamina.Input((2,))
    with pytest.raises(TypeError, match="needs both the Input tensor"):
        lamina.Model(input=x)


def test_a_built_layer_cannot_move_a_variable_between_weight_lists():
    class Keras1(lamina.layers.Layer):
        def build(self, shape):
            self.w = self.add_weight(shape=(shape[-1],), name="w")

        def call(self, x):
            return x * self.w

    layer = Keras1()
    layer(lamina.ops.ones((1, 2)))
    with pytest.raises(ValueError, match="is built: variable 'w' cannot change"):
        layer.non_trainable_weights = [layer.w]


def test_an_unknown_metric_function_in_a_config_says_how_to_load_it():
    config = {"name": "rmse", "fn": "my_rmse"}
    with pytest.raises(ValueError, match="Unknown metric function 'my_rmse': pass it in custom"):
        lamina.metrics.MeanMetricWrapper.from_config(config)
