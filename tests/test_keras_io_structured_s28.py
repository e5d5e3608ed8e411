"""keras.io structured-data, graph and recipe examples (``keras-team/keras-io``, Keras 3
versions, backend-agnostic code: ``keras`` + ``keras.ops`` + NumPy) run under
``import lamina as keras`` on small stand-in data, against real Keras (JAX backend).  After
``set_random_seed`` both build the same initial weights and draw the same dropout masks, so
predictions and fitted losses are compared without copying weights.

Keras's lookup layers need TensorFlow, which the reference lacks: where an example looks a
column up, Lamina runs the real ``StringLookup``/``IntegerLookup`` and Keras gets the looked-up
ids (``IntegerLookup`` over ``range(n)`` without OOV is the identity), so both build the same
model after the lookup.

* "Structured data learning with Wide, Deep, and Cross networks"
  (``structured_data/wide_deep_cross_networks``): a dict of named inputs, ``StringLookup`` in
  ``"binary"`` mode on ``ops.expand_dims`` of a *string* column (that op runs on the host),
  ``"int"`` mode + ``Embedding``, the cross layer's ``x0 * x + cross``, save/load;
* "Structured data learning with TabTransformer" (``structured_data/tabtransformer``):
  ``ops.stack`` of column embeddings, ``MultiHeadAttention(dropout=...)`` (Keras's masks),
  ``Sequential`` MLPs with ``Dropout`` nested in the functional model, a column ``Embedding``
  called on ``ops.arange``, ``AdamW``;
* "Classification with Gated Residual and Variable Selection Networks"
  (``structured_data/classification_with_grn_and_vsn``): sub-layers in ``__init__``, dicts of
  layers, ``layers.concatenate`` inside ``call``, ``EarlyStopping(restore_best_weights)``;
* "Classification with Neural Decision Forests"
  (``structured_data/deep_neural_decision_forests``): ``keras.Model`` trees nested in a model,
  ``add_weight`` in ``__init__`` (and a non-trainable index mask read with ``ops.take``);
* "Node classification with Graph Neural Networks" (``graph/gnn_citations``): a subclassed
  model holding the graph, ``ops.segment_sum``/``segment_max``, fitted on node indices;
* "Graph attention networks for node classification" (``graph/gat_node_classification``):
  JAX-style ``train_step``/``test_step``/``predict_step`` with the graph as an attribute;
* "Endpoint layer pattern" (``keras_recipes/endpoint_layer_pattern``): ``add_loss`` in a
  layer, a model compiled without a loss;
* "Keras reproducibility recipes" (``keras_recipes/reproducibility_recipes``).
"""

import math
from functools import partial

import jax
import numpy as np
import pytest

import lamina
from tests.helpers import keras_ref


def _close(a, b, tol=1e-4):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def _lookup_or_ids(keras, vocabulary, **kwargs):
    """Lamina: the example's lookup layer; Keras (no TensorFlow): the ids it would give."""
    if keras is lamina:
        cls = (
            keras.layers.StringLookup
            if isinstance(vocabulary[0], str)
            else keras.layers.IntegerLookup
        )
        return cls(vocabulary=vocabulary, mask_token=None, num_oov_indices=0, **kwargs)
    if kwargs.get("output_mode", "int") == "int":
        return lambda ids: ids
    n = len(vocabulary)
    return lambda ids: keras.ops.cast(keras.ops.one_hot(keras.ops.squeeze(ids, -1), n), "float32")


# --------------------------------------------------------------------------------------------
# structured_data/wide_deep_cross_networks

_CATS = {"c1": ["a", "b", "c", "d"], "c2": ["x", "y", "z"]}
_NUMS = ["n1", "n2"]


def _wdc_data(strings):
    rng = np.random.default_rng(0)
    data = {f: rng.normal(size=32).astype("float32") for f in _NUMS}
    for f, vocab in _CATS.items():
        ids = rng.integers(0, len(vocab), 32)
        data[f] = np.array(vocab)[ids] if strings else ids
    return data, rng.integers(0, 3, 32)


def _wdc_model(keras, kind, strings):
    layers = keras.layers
    keras.utils.set_random_seed(1)
    inputs = {f: layers.Input(name=f, shape=(), dtype="float32") for f in _NUMS}
    for f in _CATS:
        inputs[f] = layers.Input(name=f, shape=(), dtype="string" if strings else "int64")

    def encode_inputs(inputs, use_embedding=False):
        encoded_features = []
        for feature_name in inputs:
            if feature_name in _CATS:
                vocabulary = (
                    _CATS[feature_name] if strings else list(range(len(_CATS[feature_name])))
                )
                lookup = _lookup_or_ids(
                    keras, vocabulary, output_mode="int" if use_embedding else "binary"
                )
                if use_embedding:
                    encoded_feature = lookup(inputs[feature_name])
                    embedding_dims = int(math.sqrt(len(vocabulary)))
                    embedding = layers.Embedding(
                        input_dim=len(vocabulary), output_dim=embedding_dims
                    )
                    encoded_feature = embedding(encoded_feature)
                else:
                    encoded_feature = lookup(keras.ops.expand_dims(inputs[feature_name], -1))
            else:
                encoded_feature = keras.ops.expand_dims(inputs[feature_name], -1)
            encoded_features.append(encoded_feature)
        return layers.concatenate(encoded_features)

    def deep_tower(deep):
        for units in [8, 8]:
            deep = layers.Dense(units)(deep)
            deep = layers.BatchNormalization()(deep)
            deep = layers.ReLU()(deep)
            deep = layers.Dropout(0.1)(deep)
        return deep

    if kind == "wide_and_deep":
        wide = layers.BatchNormalization()(encode_inputs(inputs))
        deep = deep_tower(encode_inputs(inputs, use_embedding=True))
        merged = layers.concatenate([wide, deep])
    else:  # deep_and_cross
        x0 = encode_inputs(inputs, use_embedding=True)
        cross = x0
        for _ in range(2):
            units = cross.shape[-1]
            x = layers.Dense(units)(cross)
            cross = x0 * x + cross
        cross = layers.BatchNormalization()(cross)
        merged = layers.concatenate([cross, deep_tower(x0)])
    outputs = layers.Dense(units=3, activation="softmax")(merged)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    return model


def _wdc_run(keras, kind, strings, path):
    model = _wdc_model(keras, kind, strings)
    x, y = _wdc_data(strings)
    before = model.predict(x, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    model.save(path)
    reloaded = keras.models.load_model(path)
    return (
        before,
        history.history["loss"],
        model.predict(x, verbose=0),
        reloaded.predict(x, verbose=0),
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["wide_and_deep", "deep_and_cross"])
def test_wide_deep_cross_on_string_columns_trains_and_reloads_as_keras(keras, tmp_path, kind):
    # The example's binary lookup takes ``ops.expand_dims`` of the raw string column: the op
    # runs on the host with the lookups (Lamina refused it: a TensorOp receiving strings).
    ours = _wdc_run(lamina, kind, True, str(tmp_path / "a.keras"))
    with keras_ref():
        ref = _wdc_run(keras, kind, False, str(tmp_path / "b.keras"))
    for a, b in zip(ours, ref):
        _close(a, b)
    _close(ours[3], ours[2], 1e-6)


def test_element_moving_ops_on_string_inputs_run_on_the_host():
    ops, layers = lamina.ops, lamina.layers
    s = lamina.Input(shape=(), dtype="string", name="s")
    t = lamina.Input(shape=(), dtype="string", name="t")
    pair = ops.stack([s, t], axis=1)
    assert (pair.dtype, pair.shape) == ("string", (None, 2))
    column = ops.reshape(pair[:, 1], (-1, 1))
    assert (column.dtype, column.shape) == ("string", (None, 1))
    vocab = ["a", "b", "c"]
    both = layers.StringLookup(vocabulary=vocab)(pair)
    second = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(column)
    model = lamina.Model({"s": s, "t": t}, [both, second])
    got = model.predict({"s": np.array(["a", "c"]), "t": np.array(["b", "z"])}, verbose=0)
    np.testing.assert_array_equal(got[0], [[1, 2], [3, 0]])
    np.testing.assert_array_equal(got[1], [[0, 0, 1, 0], [1, 0, 0, 0]])
    with pytest.raises(ValueError, match="'cast' .*receives the string input 's'"):
        lamina.Model(s, ops.cast(s, "float32"))  # arithmetic on text stays refused


# --------------------------------------------------------------------------------------------
# structured_data/tabtransformer

_TAB_CATS = {"c1": 4, "c2": 3, "c3": 5}


def _tab_data():
    rng = np.random.default_rng(0)
    data = {f: rng.normal(size=32).astype("float32") for f in _NUMS}
    data.update({f: rng.integers(0, n, 32) for f, n in _TAB_CATS.items()})
    return data, rng.integers(0, 2, (32, 1)).astype("float32")


def _tabtransformer(keras, dropout_rate, use_column_embedding):
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(1)
    inputs = {f: layers.Input(name=f, shape=(), dtype="float32") for f in _NUMS}
    inputs.update({f: layers.Input(name=f, shape=(), dtype="int32") for f in _TAB_CATS})
    embedding_dims = 8
    categorical, numerical = [], []
    for feature_name in inputs:
        if feature_name in _TAB_CATS:
            n = _TAB_CATS[feature_name]
            encoded = _lookup_or_ids(keras, list(range(n)), output_mode="int")(inputs[feature_name])
            categorical.append(layers.Embedding(input_dim=n, output_dim=embedding_dims)(encoded))
        else:
            numerical.append(ops.expand_dims(inputs[feature_name], -1))

    def create_mlp(hidden_units, dropout_rate, activation, normalization_layer, name=None):
        mlp_layers = []
        for units in hidden_units:
            mlp_layers.append(normalization_layer())
            mlp_layers.append(layers.Dense(units, activation=activation))
            mlp_layers.append(layers.Dropout(dropout_rate))
        return keras.Sequential(mlp_layers, name=name)

    features = ops.stack(categorical, axis=1)
    numerical_features = layers.concatenate(numerical)
    if use_column_embedding:
        num_columns = features.shape[1]
        column_embedding = layers.Embedding(input_dim=num_columns, output_dim=embedding_dims)
        features = features + column_embedding(ops.arange(start=0, stop=num_columns, step=1))
    for block_idx in range(2):
        attention_output = layers.MultiHeadAttention(
            num_heads=2, key_dim=embedding_dims, dropout=dropout_rate,
            name=f"multihead_attention_{block_idx}",
        )(features, features)  # fmt: skip
        x = layers.Add(name=f"skip_connection1_{block_idx}")([attention_output, features])
        x = layers.LayerNormalization(name=f"layer_norm1_{block_idx}", epsilon=1e-6)(x)
        feedforward_output = create_mlp(
            hidden_units=[embedding_dims], dropout_rate=dropout_rate,
            activation=keras.activations.gelu,
            normalization_layer=partial(layers.LayerNormalization, epsilon=1e-6),
            name=f"feedforward_{block_idx}",
        )(x)  # fmt: skip
        x = layers.Add(name=f"skip_connection2_{block_idx}")([feedforward_output, x])
        features = layers.LayerNormalization(name=f"layer_norm2_{block_idx}", epsilon=1e-6)(x)
    categorical_features = layers.Flatten()(features)
    numerical_features = layers.LayerNormalization(epsilon=1e-6)(numerical_features)
    features = layers.concatenate([categorical_features, numerical_features])
    mlp_hidden_units = [factor * features.shape[-1] for factor in [2, 1]]
    features = create_mlp(
        mlp_hidden_units, dropout_rate, keras.activations.selu, layers.BatchNormalization, "MLP"
    )(features)
    outputs = layers.Dense(units=1, activation="sigmoid", name="sigmoid")(features)
    model = keras.Model(inputs=inputs, outputs=outputs)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.0001),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    return model


def _tab_run(keras, dropout_rate, use_column_embedding):
    model = _tabtransformer(keras, dropout_rate, use_column_embedding)
    x, y = _tab_data()
    before = model.predict(x, verbose=0)
    history = model.fit(
        x, y, batch_size=16, epochs=2, shuffle=False, validation_data=(x, y), verbose=0
    )
    return before, history.history["loss"], history.history["val_loss"], model.predict(x, verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("use_column_embedding", [False, True])
def test_tabtransformer_with_dropout_trains_as_keras(keras, use_column_embedding):
    # Dropout in the attention and in Sequentials nested in the functional model draws Keras's
    # masks (both drew from the step's key: other masks, other losses).
    ours = _tab_run(lamina, 0.1, use_column_embedding)
    with keras_ref():
        ref = _tab_run(keras, 0.1, use_column_embedding)
    for a, b in zip(ours, ref):
        _close(a, b)


def _dropout_fit(keras, where):
    layers = keras.layers
    keras.utils.set_random_seed(3)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 4)).astype("float32"), rng.random((16, 1)).astype("float32")
    inputs = keras.Input((4,))
    if where == "nested_sequential":
        hidden = keras.Sequential([layers.Dense(8), layers.Dropout(0.3)])(inputs)
    else:
        tokens = layers.Reshape((2, 2))(inputs)
        hidden = layers.MultiHeadAttention(2, 2, dropout=0.3)(tokens, tokens)
        hidden = layers.Flatten()(hidden)
    model = keras.Model(inputs, layers.Dense(1)(hidden))
    model.compile("sgd", "mse")
    history = model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0)
    return history.history["loss"], len(model.weights)


@pytest.mark.parametrize("where", ["nested_sequential", "attention"])
def test_dropout_masks_match_keras_in_nested_models_and_attention(keras, where):
    ours = _dropout_fit(lamina, where)
    with keras_ref():
        ref = _dropout_fit(keras, where)
    _close(ours[0], ref[0], 1e-5)
    assert ours[1] == ref[1]  # the seed generator's state is no weight


def test_attention_dropout_seed_generator_state_advances_per_training_call():
    mha = lamina.layers.MultiHeadAttention(num_heads=2, key_dim=2, dropout=0.5, seed=11)
    x = np.ones((1, 3, 4), "float32")
    params, state = mha.init(jax.random.PRNGKey(0), [x.shape] * 3)
    assert state["seed_generator_state"].tolist() == [11, 0]
    _, state = mha.apply(params, state, [x, x, x], training=True)
    assert np.asarray(state["seed_generator_state"]).tolist() == [11, 1]
    _, same = mha.apply(params, state, [x, x, x], training=False)
    assert np.asarray(same["seed_generator_state"]).tolist() == [11, 1]
    assert len(params) == 8 and mha.get_config()["seed"] == 11


# --------------------------------------------------------------------------------------------
# structured_data/classification_with_grn_and_vsn

_VSN_CATS = {"c1": 4, "c2": 3}
_VSN_FEATURES = ["n1", "c1", "n2", "c2", "n3"]


def _tabular(n_classes, shape=()):
    rng = np.random.default_rng(0)
    x = {
        f: rng.integers(0, _VSN_CATS[f], 32)
        if f in _VSN_CATS
        else rng.normal(size=32).astype("float32")
        for f in _VSN_FEATURES
    }
    return x, rng.integers(0, n_classes, (32, *shape))


def _grn_vsn(keras):
    layers = keras.layers
    keras.utils.set_random_seed(1)

    class GatedLinearUnit(layers.Layer):
        def __init__(self, units):
            super().__init__()
            self.linear = layers.Dense(units)
            self.sigmoid = layers.Dense(units, activation="sigmoid")

        def call(self, inputs):
            return self.linear(inputs) * self.sigmoid(inputs)

    class GatedResidualNetwork(layers.Layer):
        def __init__(self, units, dropout_rate):
            super().__init__()
            self.units = units
            self.elu_dense = layers.Dense(units, activation="elu")
            self.linear_dense = layers.Dense(units)
            self.dropout = layers.Dropout(dropout_rate)
            self.gated_linear_unit = GatedLinearUnit(units)
            self.layer_norm = layers.LayerNormalization()
            self.project = layers.Dense(units)

        def call(self, inputs):
            x = self.elu_dense(inputs)
            x = self.linear_dense(x)
            x = self.dropout(x)
            if inputs.shape[-1] != self.units:
                inputs = self.project(inputs)
            x = inputs + self.gated_linear_unit(x)
            return self.layer_norm(x)

    class VariableSelection(layers.Layer):
        def __init__(self, num_features, units, dropout_rate):
            super().__init__()
            self.units = units
            self.embeddings = dict()
            for name, size in _VSN_CATS.items():
                self.embeddings[name] = layers.Embedding(
                    input_dim=size, output_dim=units, name=name
                )
            self.proj_layer = dict()
            for name in _VSN_FEATURES:
                if name not in _VSN_CATS:
                    self.proj_layer[name] = layers.Dense(units=units)
            self.grns = [GatedResidualNetwork(units, dropout_rate) for _ in range(num_features)]
            self.grn_concat = GatedResidualNetwork(units, dropout_rate)
            self.softmax = layers.Dense(units=num_features, activation="softmax")

        def call(self, inputs):
            concat_inputs = []
            for input_ in inputs:
                if input_ in _VSN_CATS:
                    max_index = self.embeddings[input_].input_dim - 1
                    clipped = keras.ops.clip(inputs[input_], 0, max_index)
                    concat_inputs.append(self.embeddings[input_](clipped))
                else:
                    feature = keras.ops.expand_dims(inputs[input_], -1)
                    concat_inputs.append(self.proj_layer[input_](feature))
            v = layers.concatenate(concat_inputs)
            v = self.grn_concat(v)
            v = keras.ops.expand_dims(self.softmax(v), axis=-1)
            x = keras.ops.stack([grn(x) for grn, x in zip(self.grns, concat_inputs)], axis=1)
            return keras.ops.squeeze(
                keras.ops.matmul(keras.ops.transpose(v, axes=[0, 2, 1]), x), axis=1
            )

    inputs = {
        f: layers.Input(name=f, shape=(), dtype="int32" if f in _VSN_CATS else "float32")
        for f in _VSN_FEATURES
    }
    features = VariableSelection(len(inputs), 6, 0.1)(inputs)
    model = keras.Model(
        inputs=inputs, outputs=layers.Dense(units=1, activation="sigmoid")(features)
    )
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.BinaryCrossentropy(),
        metrics=[keras.metrics.BinaryAccuracy(name="accuracy")],
    )
    x, y = _tabular(2, (1,))
    before = model.predict(x, verbose=0)
    stop = keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True)
    history = model.fit(
        x, y, batch_size=16, epochs=3, shuffle=False, validation_data=(x, y), callbacks=[stop],
        verbose=0,
    )  # fmt: skip
    return before, history.history["loss"], history.history["val_loss"], model.predict(x, verbose=0)


@pytest.mark.slow
def test_grn_variable_selection_trains_as_keras(keras):
    ours = _grn_vsn(lamina)
    with keras_ref():
        ref = _grn_vsn(keras)
    for a, b in zip(ours, ref):
        _close(a, b)


# --------------------------------------------------------------------------------------------
# structured_data/deep_neural_decision_forests


def _decision_forest(keras, index_mask):
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(1)
    num_classes = 3

    class NeuralDecisionTree(keras.Model):
        def __init__(self, depth, num_features, used_features_rate, num_classes):
            super().__init__()
            self.depth, self.num_leaves, self.num_classes = depth, 2**depth, num_classes
            num_used_features = int(num_features * used_features_rate)
            one_hot = np.eye(num_features)
            sampled = np.random.choice(np.arange(num_features), num_used_features, replace=False)
            if index_mask:  # a non-trainable weight read with ops.take
                self.used_features = self.add_weight(
                    shape=(num_used_features,), dtype="int32", trainable=False,
                    initializer=keras.initializers.Constant(sampled), name="used_features",
                )  # fmt: skip
            else:
                self.used_features_mask = ops.convert_to_tensor(one_hot[sampled], dtype="float32")
            self.pi = self.add_weight(
                initializer="random_normal", shape=[self.num_leaves, self.num_classes],
                dtype="float32", trainable=True,
            )  # fmt: skip
            self.decision_fn = layers.Dense(
                units=self.num_leaves, activation="sigmoid", name="decision"
            )

        def call(self, features):
            batch_size = ops.shape(features)[0]
            if index_mask:
                features = ops.take(features, self.used_features, axis=1)
            else:
                features = ops.matmul(features, ops.transpose(self.used_features_mask))
            decisions = ops.expand_dims(self.decision_fn(features), axis=2)
            decisions = layers.concatenate([decisions, 1 - decisions], axis=2)
            mu = ops.ones([batch_size, 1, 1])
            begin_idx, end_idx = 1, 2
            for level in range(self.depth):
                mu = ops.reshape(mu, [batch_size, -1, 1])
                mu = ops.tile(mu, (1, 1, 2))
                mu = mu * decisions[:, begin_idx:end_idx, :]
                begin_idx, end_idx = end_idx, end_idx + 2 ** (level + 1)
            mu = ops.reshape(mu, [batch_size, self.num_leaves])
            return ops.matmul(mu, keras.activations.softmax(self.pi))

    class NeuralDecisionForest(keras.Model):
        def __init__(self, num_trees, depth, num_features, used_features_rate, num_classes):
            super().__init__()
            self.ensemble = [
                NeuralDecisionTree(depth, num_features, used_features_rate, num_classes)
                for _ in range(num_trees)
            ]

        def call(self, inputs):
            outputs = ops.zeros([ops.shape(inputs)[0], num_classes])
            for tree in self.ensemble:
                outputs += tree(inputs)
            outputs /= len(self.ensemble)
            return outputs

    inputs = {
        f: layers.Input(name=f, shape=(), dtype="int32" if f in _VSN_CATS else "float32")
        for f in _VSN_FEATURES
    }
    encoded = []
    for name, tensor in inputs.items():
        if name in _VSN_CATS:
            ids = _lookup_or_ids(keras, list(range(_VSN_CATS[name])))(tensor)
            encoded.append(layers.Embedding(_VSN_CATS[name], 2)(ids))
        else:
            encoded.append(ops.expand_dims(tensor, -1))
    features = layers.BatchNormalization()(layers.concatenate(encoded))
    forest = NeuralDecisionForest(3, 3, features.shape[1], 0.5, num_classes)
    model = keras.Model(inputs=inputs, outputs=forest(features))
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        metrics=[keras.metrics.SparseCategoricalAccuracy()],
    )
    x, y = _tabular(num_classes)
    before = model.predict(x, verbose=0)
    history = model.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
    counts = [len(model.trainable_weights), len(model.non_trainable_weights)]
    return before, history.history["loss"], model.predict(x, verbose=0), counts


@pytest.mark.slow
@pytest.mark.parametrize("index_mask", [False, True])
def test_neural_decision_forest_trains_as_keras(keras, index_mask):
    ours = _decision_forest(lamina, index_mask)
    with keras_ref():
        ref = _decision_forest(keras, index_mask)
    for a, b in zip(ours, ref):
        _close(a, b)


# --------------------------------------------------------------------------------------------
# graph/gnn_citations and graph/gat_node_classification

_NODES, _CLASSES = 10, 3


def _graph():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(_NODES, 5)).astype("float32")
    edges = np.stack([rng.integers(0, _NODES, 30), rng.integers(0, _NODES, 30)])
    labels = rng.integers(0, _CLASSES, _NODES)
    return features, edges, labels


def _gnn(keras, aggregation_type):
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(1)

    def create_ffn(hidden_units, dropout_rate, name=None):
        fnn_layers = []
        for units in hidden_units:
            fnn_layers.append(layers.BatchNormalization())
            fnn_layers.append(layers.Dropout(dropout_rate))
            fnn_layers.append(layers.Dense(units, activation="gelu"))
        return keras.Sequential(fnn_layers, name=name)

    class GraphConvLayer(layers.Layer):
        def __init__(self, hidden_units, dropout_rate, aggregation_type, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.aggregation_type = aggregation_type
            self.ffn_prepare = create_ffn(hidden_units, dropout_rate)
            self.update_fn = create_ffn(hidden_units, dropout_rate)

        def call(self, inputs):
            node_repesentations, edges, edge_weights = inputs
            node_indices, neighbour_indices = edges[0], edges[1]
            neighbours = ops.take(node_repesentations, neighbour_indices, axis=0)
            messages = self.ffn_prepare(neighbours) * ops.expand_dims(edge_weights, -1)
            num_nodes = node_repesentations.shape[0]
            segment = ops.segment_max if aggregation_type == "max" else ops.segment_sum
            aggregated = segment(messages, node_indices, num_segments=num_nodes)
            h = ops.concatenate([node_repesentations, aggregated], axis=1)
            embeddings = self.update_fn(h)
            return embeddings / ops.sqrt(
                ops.maximum(ops.sum(embeddings * embeddings, axis=-1, keepdims=True), 1e-12)
            )

    class GNNNodeClassifier(keras.Model):
        def __init__(self, graph_info, num_classes, hidden_units, dropout_rate=0.2, **kwargs):
            super().__init__(**kwargs)
            node_features, edges, edge_weights = graph_info
            self.node_features, self.edges = node_features, edges
            if edge_weights is None:
                edge_weights = ops.ones(shape=edges.shape[1])
            self.edge_weights = edge_weights / ops.sum(edge_weights)
            self.preprocess = create_ffn(hidden_units, dropout_rate, name="preprocess")
            self.conv1 = GraphConvLayer(
                hidden_units, dropout_rate, aggregation_type, name="graph_conv1"
            )
            self.conv2 = GraphConvLayer(
                hidden_units, dropout_rate, aggregation_type, name="graph_conv2"
            )
            self.postprocess = create_ffn(hidden_units, dropout_rate, name="postprocess")
            self.compute_logits = layers.Dense(units=num_classes, name="logits")

        def call(self, input_node_indices):
            x = self.preprocess(self.node_features)
            x = self.conv1((x, self.edges, self.edge_weights)) + x
            x = self.conv2((x, self.edges, self.edge_weights)) + x
            x = self.postprocess(x)
            return self.compute_logits(ops.take(x, input_node_indices, axis=0))

    features, edges, labels = _graph()
    model = GNNNodeClassifier((features, edges, None), _CLASSES, [8, 8], dropout_rate=0.2)
    first = model(np.array([1, 4, 9]))
    model.compile(
        optimizer=keras.optimizers.Adam(0.01),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    stop = keras.callbacks.EarlyStopping(monitor="val_acc", patience=5, restore_best_weights=True)
    history = model.fit(
        x=np.arange(_NODES), y=labels, epochs=2, batch_size=4, validation_split=0.2,
        callbacks=[stop], shuffle=False, verbose=0,
    )  # fmt: skip
    return first, history.history["loss"], model.predict(np.array([0, 3, 5]), verbose=0)


@pytest.mark.slow
@pytest.mark.parametrize("aggregation_type", ["sum", "max"])
def test_gnn_node_classifier_on_node_indices_trains_as_keras(keras, aggregation_type):
    ours = _gnn(lamina, aggregation_type)
    with keras_ref():
        ref = _gnn(keras, aggregation_type)
    for a, b in zip(ours, ref):
        _close(a, b)


def _gat(keras):
    layers, ops = keras.layers, keras.ops
    keras.utils.set_random_seed(1)

    class GraphAttention(layers.Layer):
        def __init__(self, units, **kwargs):
            super().__init__(**kwargs)
            self.units = units

        def build(self, input_shape):
            self.kernel = self.add_weight(
                shape=(input_shape[0][-1], self.units), initializer="glorot_uniform", name="kernel"
            )
            self.kernel_attention = self.add_weight(
                shape=(self.units * 2, 1), initializer="glorot_uniform", name="kernel_attention"
            )
            self.built = True

        def call(self, inputs):
            node_states, edges = inputs
            transformed = ops.matmul(node_states, self.kernel)
            expanded = ops.take(transformed, edges, axis=0)
            expanded = ops.reshape(expanded, (ops.shape(edges)[0], -1))
            scores = ops.leaky_relu(ops.matmul(expanded, self.kernel_attention))
            scores = ops.exp(ops.clip(ops.squeeze(scores, -1), -2, 2))
            n = ops.shape(node_states)[0]
            sums = ops.segment_sum(scores, edges[:, 0], num_segments=n, sorted=True)
            scores = scores / ops.take(sums, edges[:, 0])
            neighbours = ops.take(transformed, edges[:, 1], axis=0)
            return ops.segment_sum(
                neighbours * scores[:, None], edges[:, 0], num_segments=n, sorted=True
            )

    class MultiHeadGraphAttention(layers.Layer):
        def __init__(self, units, num_heads=2, **kwargs):
            super().__init__(**kwargs)
            self.attention_layers = [GraphAttention(units) for _ in range(num_heads)]

        def call(self, inputs):
            atom_features, pair_indices = inputs
            outputs = [layer([atom_features, pair_indices]) for layer in self.attention_layers]
            return ops.relu(ops.concatenate(outputs, axis=-1))

    class GraphAttentionNetwork(keras.Model):
        def __init__(self, node_states, edges, hidden_units, num_heads, output_dim, **kwargs):
            super().__init__(**kwargs)
            self.node_states, self.edges = node_states, edges
            self.preprocess = layers.Dense(hidden_units * num_heads, activation="relu")
            self.attention_layers = [MultiHeadGraphAttention(hidden_units, num_heads)]
            self.output_layer = layers.Dense(output_dim)

        def call(self, inputs, training=None):
            if not isinstance(inputs, list | tuple):  # node indices (Keras builds on them)
                return ops.take(self([self.node_states, self.edges]), inputs, axis=0)
            node_states, edges = inputs
            x = self.preprocess(node_states)
            for attention_layer in self.attention_layers:
                x = attention_layer([x, edges]) + x
            return self.output_layer(x)

        def compute_loss_and_updates(self, trainable, non_trainable, indices, labels, training):
            outputs, non_trainable = self.stateless_call(
                trainable, non_trainable, [self.node_states, self.edges], training=training
            )
            preds = ops.take(outputs, indices, axis=0)
            return self.compute_loss(y=labels, y_pred=preds), (preds, non_trainable)

        def update_logs(self, metrics_variables, loss, labels, preds):
            new, logs = [], {}
            for metric in self.metrics:
                this = metrics_variables[len(new) : len(new) + len(metric.variables)]
                if metric.name == "loss":
                    this = metric.stateless_update_state(this, loss)
                else:
                    this = metric.stateless_update_state(this, labels, preds)
                logs[metric.name] = metric.stateless_result(this)
                new += this
            return new, logs

        def train_step(self, state, data):
            trainable, non_trainable, optimizer_variables, metrics_variables = state
            indices, labels = data[0], data[1]
            grad_fn = jax.value_and_grad(self.compute_loss_and_updates, has_aux=True)
            (loss, (preds, non_trainable)), grads = grad_fn(
                trainable, non_trainable, indices, labels, True
            )
            trainable, optimizer_variables = self.optimizer.stateless_apply(
                optimizer_variables, grads, trainable
            )
            metrics_variables, logs = self.update_logs(metrics_variables, loss, labels, preds)
            return logs, (trainable, non_trainable, optimizer_variables, metrics_variables)

        def test_step(self, state, data):
            trainable, non_trainable, metrics_variables = state
            indices, labels = data[0], data[1]
            loss, (preds, non_trainable) = self.compute_loss_and_updates(
                trainable, non_trainable, indices, labels, False
            )
            metrics_variables, logs = self.update_logs(metrics_variables, loss, labels, preds)
            return logs, (trainable, non_trainable, metrics_variables)

        def predict_step(self, state, data):
            trainable, non_trainable = state
            indices = data[0] if isinstance(data, list | tuple) else data
            outputs, non_trainable = self.stateless_call(
                trainable, non_trainable, [self.node_states, self.edges]
            )
            return ops.take(ops.softmax(outputs), indices, axis=0), non_trainable

    features, edges, labels = _graph()
    edges = edges.T[np.argsort(edges[0], kind="stable")]
    model = GraphAttentionNetwork(features, edges, 4, 2, _CLASSES)
    first = model([features, edges])
    model.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        optimizer=keras.optimizers.SGD(0.3, momentum=0.9),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="acc")],
    )
    history = model.fit(
        x=np.arange(8), y=labels[:8], validation_split=0.25, batch_size=2, epochs=2,
        shuffle=False, verbose=0,
    )  # fmt: skip
    evaluated = model.evaluate(np.arange(8, 10), labels[8:], verbose=0)
    predicted = model.predict(np.arange(8, 10), verbose=0)
    return first, history.history["loss"], history.history["val_acc"], evaluated, predicted


@pytest.mark.slow
def test_graph_attention_network_custom_steps_train_as_keras(keras):
    ours = _gat(lamina)
    with keras_ref():
        ref = _gat(keras)
    for a, b in zip(ours, ref):
        _close(a, b)


# --------------------------------------------------------------------------------------------
# keras_recipes/endpoint_layer_pattern and keras_recipes/reproducibility_recipes


def _endpoint(keras):
    keras.utils.set_random_seed(1)

    class LogisticEndpoint(keras.layers.Layer):
        def __init__(self, name=None):
            super().__init__(name=name)
            self.loss_fn = keras.losses.BinaryCrossentropy(from_logits=True)

        def call(self, logits, targets=None, sample_weight=None):
            if targets is not None:
                self.add_loss(self.loss_fn(targets, logits, sample_weight))
            return keras.ops.softmax(logits)

    inputs = keras.Input((16,), name="inputs")
    logits = keras.layers.Dense(1)(inputs)
    targets = keras.Input((1,), name="targets")
    sample_weight = keras.Input((1,), name="sample_weight")
    preds = LogisticEndpoint()(logits, targets, sample_weight)
    model = keras.Model([inputs, targets, sample_weight], preds)
    rng = np.random.default_rng(0)
    data = {
        "inputs": rng.random((40, 16)),
        "targets": rng.random((40, 1)),
        "sample_weight": rng.random((40, 1)),
    }
    model.compile(keras.optimizers.Adam(1e-3))
    history = model.fit(data, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return history.history["loss"], model.evaluate(data, verbose=0), model.predict(data, verbose=0)


@pytest.mark.slow
def test_endpoint_layer_pattern_trains_without_a_compiled_loss_as_keras(keras):
    ours = _endpoint(lamina)
    with keras_ref():
        ref = _endpoint(keras)
    for a, b in zip(ours, ref):
        _close(a, b)


def _reproducible_fits(keras):
    layers = keras.layers
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 32)
    histories = []
    for _ in range(2):
        keras.utils.set_random_seed(812)
        model = keras.Sequential([
            keras.Input((8, 8, 1)),
            layers.Conv2D(4, (3, 3), activation="relu"),
            layers.MaxPooling2D((2, 2)),
            layers.Dropout(0.2),
            layers.Conv2D(4, (3, 3), activation="relu"),
            layers.GlobalAveragePooling2D(),
            layers.Dense(8, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(10, activation="softmax"),
        ])  # fmt: skip
        model.compile(
            optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
        )
        histories.append(model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0).history)
    init = keras.initializers.GlorotNormal(seed=1337)
    return histories, keras.random.uniform((3,), seed=1337), init((3, 2)), init((3, 2))


@pytest.mark.slow
def test_reproducibility_recipe_fits_twice_the_same_as_keras(keras):
    ours = _reproducible_fits(lamina)
    with keras_ref():
        ref = _reproducible_fits(keras)
    assert ours[0][0] == ours[0][1]
    _close(ours[0][0]["loss"], ref[0][0]["loss"], 1e-5)
    for a, b in zip(ours[1:], ref[1:]):
        _close(a, b, 1e-6)
