"""Writes docs/bad_input_catalog.md: each common mistake, the call, and the exact message shown.

Each scenario runs for real; the table shows the exception type and message the user sees
(temporary folders shown as ``<tmp>``, numbered layer names as ``dense_N``).  ``tests/test_bad_input_catalog.py`` regenerates the
table and fails when the committed file is out of date:

    python tools/make_bad_input_catalog.py            # rewrite docs/bad_input_catalog.md
    python tools/make_bad_input_catalog.py --out F    # write elsewhere
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import warnings

import numpy as np

DOC = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs", "bad_input_catalog.md"
)

SETUP = """
import numpy as np, lamina
from lamina.layers import Dense, Input, Activation
from lamina.models import Sequential, load_model
X = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
Y = (X[:, 0] > 0).astype("float32")
def model(units=1, act="sigmoid", loss="binary_crossentropy"):
    m = Sequential([Input((4,)), Dense(6, activation="relu"), Dense(units, activation=act)])
    m.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return m
"""

# (mistake, the call as the user writes it, preparation not shown in the table)
SCENARIOS = [
    ("fit before compile", "Sequential([Dense(1, input_dim=4)]).fit(X, Y)", ""),
    ("x and y lengths differ", "model().fit(X, Y[:19], verbose=0)", ""),
    ("target column left in X", "model().fit(np.ones((20, 5)), Y, verbose=0)", ""),
    ("wrong feature count in predict", "model().predict(np.ones((2, 3)))", ""),
    (
        "integer labels with categorical_crossentropy",
        "model(3, 'softmax', 'categorical_crossentropy').fit(X, np.arange(20) % 3, verbose=0)",
        "",
    ),
    (
        "one-hot width differs from output units",
        "model(2, 'softmax', 'categorical_crossentropy')"
        ".fit(X, np.eye(3)[np.arange(20) % 3], verbose=0)",
        "",
    ),
    (
        "sparse labels out of range",
        "model(3, 'softmax', 'sparse_categorical_crossentropy').fit(X, np.arange(20) % 5, verbose=0)",
        "",
    ),
    ("NaN in x", "model().fit(Xn, Y, verbose=0)", "Xn = X.copy(); Xn[3, 1] = np.nan"),
    ("inf in y", "model().fit(X, Yi, verbose=0)", "Yi = Y.copy(); Yi[7] = np.inf"),
    ("string labels", "model().fit(X, np.array(['yes', 'no'] * 10), verbose=0)", ""),
    ("non-numeric x", "model().fit(np.array([['a', 'b', 'c', 'd']] * 20), Y, verbose=0)", ""),
    (
        "misspelled optimizer",
        "Sequential([Dense(1, input_dim=4)]).compile(optimizer='adma', loss='mse')",
        "",
    ),
    (
        "misspelled loss",
        "Sequential([Dense(1, input_dim=4)]).compile(optimizer='sgd', loss='binary_crossentropi')",
        "",
    ),
    (
        "misspelled metric",
        "Sequential([Dense(1, input_dim=4)]).compile(optimizer='sgd', "
        "loss='mse', metrics=['acuracy'])",
        "",
    ),
    ("misspelled activation", "Activation('rleu')", ""),
    ("misspelled layer argument", "Dense(3, activaton='relu')", ""),
    ("batch_size 0", "model().fit(X, Y, batch_size=0, verbose=0)", ""),
    ("negative epochs", "model().fit(X, Y, epochs=-1, verbose=0)", ""),
    ("validation_split 1.5", "model().fit(X, Y, validation_split=1.5, verbose=0)", ""),
    (
        "validation_split of one sample",
        "model().fit(X[:1], Y[:1], validation_split=0.5, verbose=0)",
        "",
    ),
    ("empty data", "model().fit(np.zeros((0, 4)), np.zeros((0,)), verbose=0)", ""),
    ("set_weights with too few arrays", "m.set_weights(m.get_weights()[:3])", "m = model()"),
    ("add a string instead of a layer", "Sequential().add('Dense')", ""),
    ("compile without loss", "Sequential([Dense(1, input_dim=2)]).compile(optimizer='sgd')", ""),
    ("load a missing file", "load_model(TMP + '/missing.keras')", ""),
    (
        "load a corrupt .keras",
        "load_model(TMP + '/bad.keras')",
        "open(TMP + '/bad.keras', 'wb').write(b'PK\\x03\\x04' + bytes(100))",
    ),
    (
        "load a truncated .keras",
        "load_model(TMP + '/cut.keras')",
        "m = model(); m.save(TMP + '/ok.keras'); "
        "open(TMP + '/cut.keras', 'wb').write(open(TMP + '/ok.keras', 'rb').read()[:300])",
    ),
    (
        "load a text file as a model",
        "load_model(TMP + '/notes.keras')",
        "open(TMP + '/notes.keras', 'w').write('hello')",
    ),
    (
        "load_model on a weights file",
        "load_model(TMP + '/w.weights.h5')",
        "m = model(); m.build((None, 4)); m.save_weights(TMP + '/w.weights.h5')",
    ),
    (
        "load weights into a different architecture",
        "model(3, 'softmax', 'mse').load_weights(TMP + '/w.weights.h5')",
        "m = model(); m.build((None, 4)); m.save_weights(TMP + '/w.weights.h5')",
    ),
    (
        "save_weights to a .keras name",
        "m.save_weights(TMP + '/w.keras')",
        "m = model(); m.build((None, 4))",
    ),
    (
        "CSV: target column missing",
        "lamina.data.from_csv(TMP + '/d.csv', target='label')",
        "open(TMP + '/d.csv', 'w').write('a,b,y\\n1,2,0\\n3,4,1\\n')",
    ),
    (
        "CSV: non-numeric feature column",
        "lamina.data.from_csv(TMP + '/d.csv', target='y')",
        "open(TMP + '/d.csv', 'w').write('a,city,y\\n1,Paris,0\\n3,Rome,1\\n')",
    ),
    (
        "CSV: string labels without label_map",
        "lamina.data.from_csv(TMP + '/d.csv', target='y')",
        "open(TMP + '/d.csv', 'w').write('a,b,y\\n1,2,cat\\n3,4,dog\\n')",
    ),
    (
        "CSV: duplicate column names",
        "lamina.data.from_csv(TMP + '/d.csv', target='y')",
        "open(TMP + '/d.csv', 'w').write('a,a,y\\n1,2,0\\n3,4,1\\n')",
    ),
    (
        "CSV: missing value in a feature",
        "model().fit(lamina.data.from_csv(TMP + '/d.csv', target='y'), verbose=0)",
        "open(TMP + '/d.csv', 'w').write('a,b,c,d,y\\n1,2,3,4,0\\n3,,5,6,1\\n')",
    ),
    ("CSV: no file matches", "lamina.data.from_csv(TMP + '/nothing-*.csv', target='y')", ""),
    (
        "Parquet: corrupt file",
        "lamina.data.from_parquet(TMP + '/d.parquet', target='y')",
        "open(TMP + '/d.parquet', 'wb').write(b'PAR1' + bytes(50))",
    ),
    (
        "generator batch with wrong column count",
        "model().fit(gen(), steps_per_epoch=2, verbose=0)",
        "def gen():\n    while True:\n        yield np.ones((4, 5), 'float32'), np.ones(4, 'float32')",
    ),
    (
        "generator yields a bare array",
        "model().fit(gen(), steps_per_epoch=2, verbose=0)",
        "def gen():\n    while True:\n        yield np.ones((4, 4), 'float32')",
    ),
    # Issue 14 (reliability round two): hostile files, empty shapes, streams, messages.
    (
        "weights whose bytes live in another file (HDF5 external storage)",
        "model().load_weights(TMP + '/ext.weights.h5')",
        "import h5py\n"
        "open(TMP + '/secret.txt', 'w').write('password=hunter2' * 8)\n"
        "with h5py.File(TMP + '/ext.weights.h5', 'w') as f:\n"
        "    f.create_dataset('layers/dense/vars/0', shape=(4, 6), dtype='f4',"
        " external=[(TMP + '/secret.txt', 0, 96)])",
    ),
    (
        "weights from another HDF5 file (virtual dataset)",
        "model().load_weights(TMP + '/vds.weights.h5')",
        "import h5py\n"
        "with h5py.File(TMP + '/other.h5', 'w') as f:\n"
        "    f['x'] = np.ones((4, 6), 'f4')\n"
        "layout = h5py.VirtualLayout(shape=(4, 6), dtype='f4')\n"
        "layout[:] = h5py.VirtualSource(TMP + '/other.h5', 'x', shape=(4, 6))\n"
        "with h5py.File(TMP + '/vds.weights.h5', 'w') as f:\n"
        "    f.create_virtual_dataset('layers/dense/vars/0', layout)",
    ),
    (
        "weights compressed with a plugin filter",
        "model().load_weights(TMP + '/blosc.weights.h5')",
        "import h5py\n"
        "with h5py.File(TMP + '/blosc.weights.h5', 'w') as f:\n"
        "    f.create_dataset('layers/dense/vars/0', shape=(4, 6), dtype='f4', chunks=(4, 6),"
        " compression=32001, allow_unknown_filter=True)",
    ),
    (
        "weights stored as strings",
        "model().load_weights(TMP + '/s.weights.h5')",
        "import h5py\n"
        "with h5py.File(TMP + '/s.weights.h5', 'w') as f:\n"
        "    f['layers/dense/vars/0'] = np.full((4, 6), b'0.5')\n"
        "    f['layers/dense/vars/1'] = np.zeros(6, 'f4')",
    ),
    (
        "model file declaring 10**12 units",
        "load_model(TMP + '/huge.keras')",
        "import json, zipfile\n"
        "m = model(); m.save(TMP + '/ok.keras')\n"
        "z = zipfile.ZipFile(TMP + '/ok.keras')\n"
        "c = json.loads(z.read('config.json'))\n"
        "c['config']['layers'][1]['config']['units'] = 10**12\n"
        "with zipfile.ZipFile(TMP + '/huge.keras', 'w') as out:\n"
        "    for n in z.namelist():\n"
        "        out.writestr(n, json.dumps(c) if n == 'config.json' else z.read(n))",
    ),
    (
        "convolution kernel larger than the input",
        "Sequential([Input((3, 3, 1)), lamina.layers.Conv2D(4, 5, name='conv')])",
        "",
    ),
    (
        "pooling window larger than the input",
        "Sequential([Input((3, 3, 1)), lamina.layers.MaxPooling2D(4, name='pool')])",
        "",
    ),
    (
        "strides=0",
        "Sequential([Input((8, 8, 1)), lamina.layers.Conv2D(2, 3, strides=0, name='conv')])",
        "",
    ),
    (
        "CSV: inf in the target column",
        "model().evaluate(lamina.data.from_csv(TMP + '/d.csv', target='y'), verbose=0)",
        "open(TMP + '/d.csv', 'w').write('a,b,c,d,y\\n' + '1,2,3,4,0\\n' * 5 + '1,2,3,4,inf\\n')",
    ),
    (
        "Parquet: a column becomes a timestamp in a later file",
        "model().fit(lamina.data.from_parquet(TMP + '/p-*.parquet', target='y'), verbose=0)",
        "import pandas as pd\n"
        "df = pd.DataFrame(X, columns=list('abcd')).assign(y=Y)\n"
        "df.to_parquet(TMP + '/p-0.parquet')\n"
        "df.assign(b=pd.date_range('2020-01-01', periods=20)).to_parquet(TMP + '/p-1.parquet')",
    ),
    (
        "categorical pandas Series as y",
        "model().fit(X, pd.Series(pd.Categorical(['no', 'yes'] * 10), name='label'), verbose=0)",
        "import pandas as pd",
    ),
    (
        "3-D x into a Dense model without an input shape",
        "m.fit(np.ones((20, 5, 4)), Y, verbose=0)",
        "m = Sequential([Dense(1)]); m.compile(optimizer='sgd', loss='mse')",
    ),
    ("NaN in predict input", "model().predict(Xn, verbose=0)", "Xn = X.copy(); Xn[3, 1] = np.nan"),
    (
        "dates as x",
        "model().fit(np.arange(80).astype('datetime64[D]').reshape(20, 4), Y, verbose=0)",
        "",
    ),
]


def run_all():
    """Returns ``[(mistake, call, exception name, message)]``."""
    tmp = tempfile.mkdtemp(prefix="lamina_catalog_")
    rows = []
    try:
        for title, call, prep in SCENARIOS:
            env = {"TMP": tmp}
            exec(SETUP, env)  # noqa: S102 - our own scenario code
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    if prep:
                        exec(prep, env)  # noqa: S102
                    eval(call, env)  # noqa: S307
                    kind, msg = "(no error)", ""
                except Exception as e:  # noqa: BLE001 - recording what users see
                    kind, msg = type(e).__name__, str(e)
            msg = re.sub(r"'(\w+?)_\d+'", r"'\1_N'", msg.replace(tmp, "<tmp>"))
            rows.append((title, call.replace("TMP + '", "'<tmp>"), kind, msg))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return rows


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows):
    out = [
        "# Bad-input catalog",
        "",
        "What Lamina says for common mistakes.  Generated by "
        "`python tools/make_bad_input_catalog.py`; `tests/test_bad_input_catalog.py` fails "
        "when this file is out of date.  `<tmp>` stands for a temporary folder, `dense_N` for a numbered layer name.",
        "",
        "| # | Mistake | Call | Exception | Message |",
        "|---|---|---|---|---|",
    ]
    for i, (title, call, kind, msg) in enumerate(rows, 1):
        out.append(f"| {i} | {_cell(title)} | `{_cell(call)}` | {kind} | {_cell(msg)} |")
    return "\n".join(out) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=DOC)
    args = ap.parse_args(argv)
    np.seterr(all="ignore")
    text = render(run_all())
    with open(args.out, "w") as f:
        f.write(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
