"""Where Keras 3 stores each weight of a model in ``model.weights.h5``, for every model kind.

``model_groups(model)`` gives, per entry of ``model.layers``, the HDF5 groups of that layer
and, per group, the weights it holds (``("p", key)`` for a trainable weight in the layer's
``params`` dict, ``("s", key)`` for one in its ``state``), in dataset order ``0, 1, ...``:

* a layer of a ``Sequential``/functional model: ``layers/<snake class name>[_n]/vars``
  (recurrent layers one level down on their cell, as :mod:`weights_h5` describes);
* a nested ``Sequential``/functional model: its layers under ``<its group>/layers/...``;
* a Keras-style layer with sub-layers, or a subclassed model: its own weights in
  ``<group>/vars``, each sub-layer under ``<group>/<attribute name>`` (a list attribute:
  ``<attribute>/<snake class name>[_n]``), as ``keras.src.saving.saving_lib`` walks objects;
  a subclassed model's layers sit at the root (``<attribute>/vars``), its own variables
  (:mod:`lamina.models.own_variables`) in ``vars`` (a nested one's in ``<its group>/vars``).

>>> from lamina import Input, Model, layers
>>> x = Input((3,))
>>> model = Model(x, layers.Dense(2)(x))
>>> model_groups(model)[1]
[('layers/dense/vars', [('p', 'kernel'), ('p', 'bias')])]
"""

from __future__ import annotations

from lamina.layers import activation_sublayer as _activation_sublayer
from lamina.layers import tracing as _tracing


def _snake(obj) -> str:
    """The snake-case name of ``obj``'s Keras class: a layer's group in Keras's files
    (Keras's ``GroupQueryAttention`` is the class ``GroupedQueryAttention``)."""
    from lamina.saving.weights_h5 import to_snake_case

    cls = type(obj)
    return to_snake_case(getattr(cls, "_keras_class_name", cls.__name__))


def _is_graph_model(layer) -> bool:
    from lamina.models.sequential import Sequential

    return isinstance(layer, Sequential) or getattr(layer, "_nodes", None) is not None


def _is_subclassed(layer) -> bool:
    return getattr(layer, "_is_model", False) and not _is_graph_model(layer)


def _is_own_variables(layer) -> bool:
    from lamina.models.own_variables import is_holder  # lamina.models imports this module

    return is_holder(layer)


def _own_holder(model):
    from lamina.models.own_variables import holder_of

    return holder_of(model)


def _counted(names_used: dict, base: str) -> str:
    if base in names_used:
        names_used[base] += 1
        return f"{base}_{names_used[base]}"
    names_used[base] = 0
    return base


def _entry_names(view) -> dict:
    """``{id(layer): its group under layers/}`` of a graph model: Keras names each entry of
    ``model.layers`` in turn, so a layer a ``Sequential`` repeats takes a count at each of its
    positions and is saved at its first (``dense``, then ``dense_2`` after ``d, d``)."""
    used: dict = {}
    names: dict = {}
    for layer in view.applied_layers:
        names.setdefault(id(layer), _counted(used, _snake(layer)))
    return names


def keras_attribute_paths(obj) -> list[tuple[str, object]]:
    """``[(Keras's path, layer)]`` for the sub-layers ``obj`` tracks, as Keras's saving walks
    them: attributes in sorted name order, a layer saved at the first path that reaches it; a
    list (and a model's ``layers``) names its entries by snake-cased class, counted per list."""
    from lamina.layers.base import Layer

    tracked = {id(sub) for _, sub in _tracing.tracked_layers(obj)}
    skip = _tracing._SKIP | set(getattr(type(obj), "_untracked_attributes", ()))
    attrs = {k: v for k, v in vars(obj).items() if k not in skip}
    if getattr(obj, "_is_model", False):
        attrs["layers"] = [sub for _, sub in _tracing.tracked_layers(obj)]
    out, seen = [], set()
    for name in sorted(attrs):
        value = attrs[name]
        if isinstance(value, Layer):
            if id(value) in tracked and id(value) not in seen:
                seen.add(id(value))
                out.append((name, value))
        elif isinstance(value, list | tuple | dict):
            items = list(value.values()) if isinstance(value, dict) else list(value)
            used: dict = {}
            for item in items:
                if not isinstance(item, Layer):
                    continue
                entry = _counted(used, _snake(item))
                if id(item) in tracked and id(item) not in seen:
                    seen.add(id(item))
                    out.append((f"{name}/{entry}", item))
    return out


def _first_paths(model) -> dict:
    """``{id(layer): path}`` of a subclassed model's layers where Keras's saving walk first
    reaches each: a layer a custom layer reads (tied weights) is saved under that custom
    layer when its attribute sorts first (``decode/dense``), and only there; a layer a nested
    ``Sequential`` also holds, under it when its attribute sorts first (``body/layers/dense``)."""
    out: dict = {}

    def walk(obj, prefix, depth):
        if _is_graph_model(obj):  # Keras walks a nested graph model's ``layers`` too
            names = _entry_names(obj.saving_view())
            children = [(f"layers/{names[id(sub)]}", sub) for sub in obj.saving_view().layers
                        if id(sub) in names]  # fmt: skip
        else:
            children = keras_attribute_paths(obj)
        for kp, sub in children:
            if id(sub) in out or depth > 16:
                continue
            out[id(sub)] = f"{prefix}{kp}"
            if sub._traced or _is_subclassed(sub) or _is_graph_model(sub):
                walk(sub, f"{prefix}{kp}/", depth + 1)

    walk(model, "", 0)
    return out


def _prefixed(names, prefix):
    cut = len(prefix) + 1
    return [k[cut:] for k in names if k.startswith(prefix + "/")]


def layer_groups(layer, base: str, p_names, s_names) -> list:
    """The groups of ``layer`` stored at ``base``; see the module docstring."""
    from lamina.saving.weights_h5 import _sub_paths

    p_names, s_names = list(p_names), list(s_names)
    if _is_graph_model(layer):
        out = [(f"{base}/vars", [])]
        sub_view = layer.saving_view()
        names = _entry_names(sub_view)
        for sub in sub_view.layers:
            sub_base = f"{base}/layers/{names[id(sub)]}"
            inner = layer_groups(
                sub, sub_base, _prefixed(p_names, sub.name), _prefixed(s_names, sub.name)
            )
            out += [(g, [(kind, f"{sub.name}/{k}") for kind, k in keys]) for g, keys in inner]
        return out
    subs = _tracing.tracked_layers(layer) if (layer._traced or _is_subclassed(layer)) else []
    if subs:
        own = [("p", k) for k in p_names if "/" not in k] + [
            ("s", k) for k in s_names if "/" not in k
        ]
        holder = _own_holder(layer) if _is_subclassed(layer) else None
        if holder is not None:  # a nested model's own variables, under its name (vars/0, ...)
            at = holder.name
            own += [("p", f"{at}/{k}") for k in _prefixed(p_names, at)]
            own += [("s", f"{at}/{k}") for k in _prefixed(s_names, at)]
        out = [(f"{base}/vars" if base else "vars", own)]
        keras_paths = dict((id(sub), kp) for kp, sub in keras_attribute_paths(layer))
        foreign = layer.__dict__.get("_foreign_paths") or ()
        for path, sub in subs:
            if path in foreign and not any(k.startswith(path + "/") for k in (*p_names, *s_names)):
                continue  # a layer it reads is saved where the model holds it (Keras: once)
            sub_base = f"{base}/{keras_paths[id(sub)]}" if base else keras_paths[id(sub)]
            # A Keras-style layer keys its sub-layers' weights by attribute path; a subclassed
            # model held in a graph keys them by the sub-layer's name (``dense/kernel``).
            if not any(k.startswith(path + "/") for k in (*p_names, *s_names)):
                path = sub.name
            inner = layer_groups(sub, sub_base, _prefixed(p_names, path), _prefixed(s_names, path))
            out += [(g, [(kind, f"{path}/{k}") for kind, k in keys]) for g, keys in inner]
        return out
    # A layer held as the activation (``Dense(8, activation=PReLU())``): ``<base>/activation``.
    held = []
    for path, sub in _activation_sublayer.sub_layers(layer, (*p_names, *s_names)):
        inner = layer_groups(
            sub, f"{base}/{path}", _prefixed(p_names, path), _prefixed(s_names, path)
        )
        held = [(g, [(kind, f"{path}/{k}") for kind, k in keys]) for g, keys in inner]
        p_names = [k for k in p_names if not k.startswith(path + "/")]
        s_names = [k for k in s_names if not k.startswith(path + "/")]
    keys = [("p", k) for k in p_names] + [("s", k) for k in s_names]
    file_keys = getattr(layer, "_keras_file_keys", None)
    if file_keys is not None:  # a LoRA layer: its merged kernel (lamina.layers.lora)
        keys = file_keys(keys)
    hook = getattr(layer, "_keras_weight_groups", None)  # RNN(StackedRNNCells): one per cell
    if hook is not None:  # (sub path, key prefix) or (sub path, tuple of exact keys)
        return held + [
            (
                "/".join((base, *sub, "vars")),
                [
                    kk
                    for kk in keys
                    if (kk[1] in sel if isinstance(sel, tuple) else kk[1].startswith(sel))
                ],
            )
            for sub, sel in hook()
        ]
    sub_paths = _sub_paths(layer)
    n = len(sub_paths)
    size = len(keys) // n if n else 0
    return [
        ("/".join((base, *sub, "vars")), keys[j * size : (j + 1) * size])
        for j, sub in enumerate(sub_paths)
    ] + held


def model_groups(model) -> list:
    """Per layer of the model's saving view (``view.layers``: ``model.layers`` plus a graph's
    weightless ops), its ``[(group path, [(kind, key), ...]), ...]``."""
    view = model.saving_view()
    view.require_built("save_weights")
    order = view.weight_order
    out = []
    if _is_subclassed(model):
        paths = _first_paths(model)
        for layer, (p_names, s_names) in zip(view.layers, order):
            if _is_own_variables(layer):  # the model's own variables: its ``vars`` group
                own = [("p", k) for k in p_names] + [("s", k) for k in s_names]
                out.append([("vars", own)])
                continue
            out.append(layer_groups(layer, paths[id(layer)], p_names, s_names))
        return _without_copies(out, view.copies)
    names = _entry_names(view)
    for layer, (p_names, s_names) in zip(view.layers, order):
        base = f"layers/{names[id(layer)]}"
        out.append(layer_groups(layer, base, p_names, s_names))
    return _without_copies(out, view.copies)


def _without_copies(per_layer: list, copies: dict) -> list:
    """``per_layer`` without the groups of a layer's later places (a layer two nested models
    share): Keras saves it once, at its first place, and writes no group at the others."""
    if not copies:
        return per_layer
    out = []
    for i, groups in enumerate(per_layer):
        kept = []
        for gpath, keys in groups:
            left = [(kind, key) for kind, key in keys if (i, key) not in copies]
            if keys and not left:
                continue
            kept.append((gpath, left))
        out.append(kept)
    return out
