"""A small CNN trained on augmented images with ``ImageDataGenerator`` and ``fit_generator``,
as Keras 2 tutorials wrote it.

No download: the images are generated 24x24 grayscale pictures of three shapes (a horizontal
bar, a vertical bar and a square outline) at random places and sizes, with noise.  Training
batches come from ``ImageDataGenerator(...).flow`` with rescaling, small rotations, shifts,
zooms and horizontal flips (none of which turns one shape into another); the test batches are
only rescaled.  The model is fed by ``fit_generator``/``evaluate_generator``, the Keras 2 API.

Expected: test accuracy of at least 0.9 after 6 epochs (0.997 with this seed).

Run:  python examples/keras2/image_generator_cnn.py
"""

import numpy as np

from lamina.layers import Conv2D, Dense, Dropout, Flatten, MaxPooling2D
from lamina.models import Sequential
from lamina.preprocessing.image import ImageDataGenerator
from lamina.utils import set_random_seed, to_categorical

img_rows, img_cols = 24, 24
num_classes = 3
batch_size = 32


def make_images(n, rng):
    x = rng.uniform(0, 60, (n, img_rows, img_cols, 1)).astype("float32")
    y = rng.integers(0, num_classes, n)
    for img, label in zip(x, y):
        size = int(rng.integers(8, 14))
        r, c = (int(v) for v in rng.integers(3, img_rows - size - 2, 2))
        if label == 0:  # horizontal bar
            img[r + size // 2 - 1 : r + size // 2 + 1, c : c + size] = 255
        elif label == 1:  # vertical bar
            img[r : r + size, c + size // 2 - 1 : c + size // 2 + 1] = 255
        else:  # square outline
            img[r : r + size, c : c + size] = 255
            img[r + 2 : r + size - 2, c + 2 : c + size - 2] = 30
    return x, y


set_random_seed(0)
rng = np.random.default_rng(0)
x_train, y_train = make_images(1000, rng)
x_test, y_test = make_images(336, rng)
y_train = to_categorical(y_train, num_classes)
y_test = to_categorical(y_test, num_classes)
print("x_train shape:", x_train.shape)

train_datagen = ImageDataGenerator(
    rescale=1.0 / 255,
    rotation_range=10,
    width_shift_range=0.1,
    height_shift_range=0.1,
    zoom_range=0.1,
    horizontal_flip=True,
    fill_mode="nearest",
)
test_datagen = ImageDataGenerator(rescale=1.0 / 255)
train_generator = train_datagen.flow(x_train, y_train, batch_size=batch_size, seed=1)
test_generator = test_datagen.flow(x_test, y_test, batch_size=batch_size, shuffle=False)

model = Sequential()
model.add(Conv2D(16, (3, 3), activation="relu", input_shape=(img_rows, img_cols, 1)))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Conv2D(16, (3, 3), activation="relu"))
model.add(MaxPooling2D(pool_size=(2, 2)))
model.add(Flatten())
model.add(Dense(32, activation="relu"))
model.add(Dropout(0.25))
model.add(Dense(num_classes, activation="softmax"))
model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"])

model.fit_generator(
    train_generator,
    steps_per_epoch=len(x_train) // batch_size,
    epochs=6,
    validation_data=test_generator,
    validation_steps=len(x_test) // batch_size,
    verbose=2,
)
score = model.evaluate_generator(test_generator, steps=len(test_generator))
print("Test loss:", score[0])
print("Test accuracy:", score[1])
assert score[1] >= 0.9, f"expected test accuracy >= 0.9, got {score[1]:.4f}"
