"""Keras's ready-made image models (``keras.applications``), built as Lamina functional models.

Layer names, order, weight shapes and configs equal Keras 3's, so weights move both ways.
``weights="imagenet"`` reads the file Keras itself caches (``$KERAS_HOME/models`` or
``~/.keras/models``; Lamina never downloads): a missing file raises a ``FileNotFoundError``
naming the file, the URL and the folder.  Each Keras module path works too
(``keras.applications.resnet50.preprocess_input``, ``keras.applications.vgg16.VGG16``).

>>> import lamina as keras
>>> model = keras.applications.MobileNetV2(weights=None, input_shape=(32, 32, 3), classes=10)
>>> model.output_shape
(None, 10)
"""

from __future__ import annotations

import sys
import types

from lamina.applications import (
    _convnext,
    _efficientnet,
    _efficientnet_v2,
    _mobilenet_v3,
    imagenet_utils,
)
from lamina.applications._convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from lamina.applications._densenet import DenseNet121, DenseNet169, DenseNet201
from lamina.applications._efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from lamina.applications._efficientnet_v2 import (
    EfficientNetV2B0,
    EfficientNetV2B1,
    EfficientNetV2B2,
    EfficientNetV2B3,
    EfficientNetV2L,
    EfficientNetV2M,
    EfficientNetV2S,
)
from lamina.applications._inception_resnet_v2 import InceptionResNetV2
from lamina.applications._inception_v3 import InceptionV3
from lamina.applications._mobilenet import MobileNet, MobileNetV2
from lamina.applications._mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from lamina.applications._nasnet import NASNetLarge, NASNetMobile
from lamina.applications._resnet import (
    ResNet50,
    ResNet50V2,
    ResNet101,
    ResNet101V2,
    ResNet152,
    ResNet152V2,
)
from lamina.applications._vgg import VGG16, VGG19
from lamina.applications._xception import Xception

__all__ = [
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "EfficientNetV2B0",
    "EfficientNetV2B1",
    "EfficientNetV2B2",
    "EfficientNetV2B3",
    "EfficientNetV2L",
    "EfficientNetV2M",
    "EfficientNetV2S",
    "InceptionResNetV2",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "NASNetLarge",
    "NASNetMobile",
    "ResNet50",
    "ResNet50V2",
    "ResNet101",
    "ResNet101V2",
    "ResNet152",
    "ResNet152V2",
    "VGG16",
    "VGG19",
    "Xception",
    "imagenet_utils",
]


def _preprocess(mode):
    def preprocess_input(x, data_format=None):
        return imagenet_utils.preprocess_input(x, data_format=data_format, mode=mode)

    preprocess_input.__doc__ = f"ImageNet preprocessing in {mode!r} mode (as Keras's)."
    return preprocess_input


#: Keras's per-model modules: name -> (preprocessing mode, or the module whose
#: ``preprocess_input`` to use, the models it exports).
_MODULES = {
    "vgg16": ("caffe", ["VGG16"]),
    "vgg19": ("caffe", ["VGG19"]),
    "resnet": ("caffe", ["ResNet50", "ResNet101", "ResNet152"]),
    "resnet50": ("caffe", ["ResNet50"]),
    "resnet_v2": ("tf", ["ResNet50V2", "ResNet101V2", "ResNet152V2"]),
    "mobilenet": ("tf", ["MobileNet"]),
    "mobilenet_v2": ("tf", ["MobileNetV2"]),
    "densenet": ("torch", ["DenseNet121", "DenseNet169", "DenseNet201"]),
    "inception_v3": ("tf", ["InceptionV3"]),
    "xception": ("tf", ["Xception"]),
    "efficientnet": (_efficientnet, [f"EfficientNetB{i}" for i in range(8)]),
    "mobilenet_v3": (_mobilenet_v3, ["MobileNetV3Small", "MobileNetV3Large"]),
    "convnext": (_convnext, [f"ConvNeXt{v}" for v in ("Tiny", "Small", "Base", "Large", "XLarge")]),
    "efficientnet_v2": (
        _efficientnet_v2,
        [f"EfficientNetV2{v}" for v in ("B0", "B1", "B2", "B3", "S", "M", "L")],
    ),
    "inception_resnet_v2": ("tf", ["InceptionResNetV2"]),
    "nasnet": ("tf", ["NASNetMobile", "NASNetLarge"]),
}


def _install(name, mode, exports):
    module = types.ModuleType(f"{__name__}.{name}", f"``keras.applications.{name}``.")
    for export in exports:
        setattr(module, export, globals()[export])
    module.preprocess_input = _preprocess(mode) if isinstance(mode, str) else mode.preprocess_input
    module.decode_predictions = imagenet_utils.decode_predictions
    module.__all__ = [*exports, "preprocess_input", "decode_predictions"]
    sys.modules[module.__name__] = module
    globals()[name] = module


for _name, (_mode, _exports) in _MODULES.items():
    _install(_name, _mode, _exports)

from lamina._unsupported import module_getattr  # noqa: E402

__getattr__ = module_getattr("applications", globals())
