"""PyTorch eager versions of ``bench_models.py``'s models: the CPU reference a user might pick
instead (benchmark-only; PyTorch is never a Lamina dependency).

Each model is the Keras example's architecture written as a plain PyTorch module and trained
by a plain loop (Adam, the same batch size, rows and epochs, shuffled each epoch), with
``torch.set_num_threads`` at the machine's cores.  Keras layers map one to one, except that
``torch.nn.LSTM`` has no recurrent dropout (``imdb_lstm`` keeps only the input dropout, as in
the issue's first measurement).  Only the Sequential models are written here; the functional
ones report an error row.

Run by ``bench_models.py --impls ...,torch`` in a Python that has ``torch`` installed
(``BENCH_TORCH_PYTHON`` names it when that is not the benchmark's own).
"""

from __future__ import annotations

import os
import statistics
import time


def _model(name, nn, torch):
    """The ``nn.Module`` of ``name`` (channels-first convolutions; inputs as Keras gives)."""

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if name == "mnist_cnn":
                self.body = nn.Sequential(
                    nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(),
                    nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                    nn.Linear(64 * 12 * 12, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 10),
                )  # fmt: skip
            elif name == "imdb_cnn":
                self.emb = nn.Embedding(5000, 50)
                self.drop = nn.Dropout(0.2)
                self.conv = nn.Conv1d(50, 250, 3)
                self.head = nn.Sequential(
                    nn.Linear(250, 250), nn.ReLU(), nn.Dropout(0.2), nn.Linear(250, 1)
                )
            elif name == "conv_autoencoder":
                k = dict(kernel_size=7, stride=2, padding=3)
                self.body = nn.Sequential(
                    nn.Conv1d(1, 32, **k), nn.ReLU(), nn.Dropout(0.2),
                    nn.Conv1d(32, 16, **k), nn.ReLU(),
                    nn.ConvTranspose1d(16, 16, output_padding=1, **k), nn.ReLU(), nn.Dropout(0.2),
                    nn.ConvTranspose1d(16, 32, output_padding=1, **k), nn.ReLU(),
                    nn.ConvTranspose1d(32, 1, kernel_size=7, padding=3),
                )  # fmt: skip
            elif name in ("imdb_lstm", "imdb_gru", "imdb_bilstm"):
                self.emb = nn.Embedding(20000, 128)
                self.drop = nn.Dropout(0.2 if name == "imdb_lstm" else 0.0)
                if name == "imdb_gru":
                    self.rnn = nn.GRU(128, 128, batch_first=True)
                else:
                    bi = name == "imdb_bilstm"
                    self.rnn = nn.LSTM(128, 64 if bi else 128, batch_first=True, bidirectional=bi)
                self.out = nn.Linear(128, 1)
            else:
                raise ValueError(f"no PyTorch version of {name!r}")

        def forward(self, x):
            if name == "mnist_cnn":
                return self.body(x.permute(0, 3, 1, 2))  # logits; the loss applies softmax
            if name == "imdb_cnn":
                h = self.conv(self.drop(self.emb(x)).transpose(1, 2)).relu()
                return self.head(h.amax(dim=2)).squeeze(1)
            if name == "conv_autoencoder":
                return self.body(x.transpose(1, 2)).transpose(1, 2)
            seq, _ = self.rnn(self.drop(self.emb(x)))
            if name == "imdb_bilstm":  # Keras concatenates the last step of each direction
                h = torch.cat([seq[:, -1, :64], seq[:, 0, 64:]], dim=1)
            else:
                h = seq[:, -1]
            return self.out(h).squeeze(1)

    return Net()


def worker(name, x, y, batch, epochs):
    """Whole fit, steady epoch and second predict of ``name`` in PyTorch eager."""
    import numpy as np
    import torch
    from torch import nn

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = _model(name, nn, torch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    if name == "mnist_cnn":
        loss_fn = nn.CrossEntropyLoss()
        yt = torch.from_numpy(y.astype(np.int64))
    elif name == "conv_autoencoder":
        loss_fn = nn.MSELoss()
        yt = torch.from_numpy(y)
    else:
        loss_fn = nn.BCEWithLogitsLoss()
        yt = torch.from_numpy(y.astype(np.float32))
    xt = torch.from_numpy(x.astype(np.int64) if x.dtype.kind == "i" else x)
    n = xt.shape[0]
    stamps = []
    t1 = time.perf_counter()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(n)
        for i in range(0, n, batch):
            idx = order[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
        stamps.append(time.perf_counter())
    t2 = time.perf_counter()

    def predict():
        model.eval()
        with torch.no_grad():
            return [model(xt[i : i + 32]) for i in range(0, n, 32)]

    predict()
    t3 = time.perf_counter()
    predict()
    t4 = time.perf_counter()
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    return {
        "fit_s": t2 - t0,
        "first_epoch_s": stamps[0] - t1,
        "epoch_s": statistics.median(gaps) if gaps else None,
        "predict_s": t4 - t3,
        "first_predict_s": t3 - t2,
        "strategy": None,
    }
