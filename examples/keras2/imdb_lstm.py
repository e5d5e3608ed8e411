"""IMDB-style sentiment classification with an LSTM, written as Keras 2 tutorials wrote it.

The text pipeline is Keras 2's: ``Tokenizer(num_words=...)`` builds the vocabulary from the
training reviews, ``texts_to_sequences`` turns reviews into word indices and ``pad_sequences``
cuts or pads them to ``maxlen``.  No download: the reviews are generated stand-ins, each a mix of
neutral filler and a few sentiment words, labelled by which kind of sentiment word dominates
(with typos and unseen words mapped to the ``oov_token``).  The tokenizer is saved to JSON and
read back, as a deployed model would do.

Expected: test accuracy of at least 0.9 after 4 epochs (about 0.96 with this seed).

Run:  python examples/keras2/imdb_lstm.py
"""

import numpy as np

from lamina.layers import LSTM, Dense, Embedding
from lamina.models import Sequential
from lamina.preprocessing.sequence import pad_sequences
from lamina.preprocessing.text import Tokenizer, tokenizer_from_json
from lamina.utils import set_random_seed

max_features = 300  # keep the 299 most frequent words
maxlen = 40  # cut reviews after 40 words
batch_size = 32

POSITIVE = ["great", "wonderful", "loved", "brilliant", "moving", "superb", "fun", "best"]
NEGATIVE = ["awful", "boring", "hated", "terrible", "dull", "worst", "waste", "bad"]
FILLER = ("the movie film plot actor actress scene story director camera music script it was "
          "this a an and of to in with but then again really quite very so some "
          "character ending minute hour watch seen saw").split()


def make_reviews(n, rng):
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        major, minor = (POSITIVE, NEGATIVE) if label else (NEGATIVE, POSITIVE)
        words = list(rng.choice(FILLER, size=int(rng.integers(15, 60))))
        sentiment = list(rng.choice(major, size=int(rng.integers(2, 5))))
        sentiment += list(rng.choice(minor, size=int(rng.integers(0, 2))))
        for w in sentiment:  # sentiment words anywhere, also after the maxlen cut
            words.insert(int(rng.integers(0, len(words) + 1)), w)
        if rng.random() < 0.3:
            words.append(f"unseen{int(rng.integers(1000))}!")
        texts.append(" ".join(words).capitalize() + ".")
        labels.append(label)
    return texts, np.array(labels, dtype="float32")


set_random_seed(0)
rng = np.random.default_rng(0)
train_texts, y_train = make_reviews(1500, rng)
test_texts, y_test = make_reviews(400, rng)

print("Fitting the tokenizer...")
tokenizer = Tokenizer(num_words=max_features, oov_token="<unk>")
tokenizer.fit_on_texts(train_texts)
print(len(tokenizer.word_index), "distinct words;", tokenizer.document_count, "documents")
tokenizer = tokenizer_from_json(tokenizer.to_json())  # what a saved tokenizer loads as

x_train = pad_sequences(tokenizer.texts_to_sequences(train_texts), maxlen=maxlen)
x_test = pad_sequences(tokenizer.texts_to_sequences(test_texts), maxlen=maxlen)
print("x_train shape:", x_train.shape)
print("x_test shape:", x_test.shape)

print("Build model...")
model = Sequential()
model.add(Embedding(max_features, 32))
model.add(LSTM(32, dropout=0.2))
model.add(Dense(1, activation="sigmoid"))
model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])

print("Train...")
model.fit(x_train, y_train, batch_size=batch_size, epochs=4,
          validation_data=(x_test, y_test), verbose=2)
score, acc = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0)
print("Test score:", score)
print("Test accuracy:", acc)
assert acc >= 0.9, f"expected test accuracy >= 0.9, got {acc:.4f}"
