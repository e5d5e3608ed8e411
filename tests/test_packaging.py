"""Packaging: the license, classifiers, extras, ``py.typed``, typed public signatures, and error
messages that name the extra to install."""

import pathlib
import re
import subprocess
import sys
import tomllib
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
EXTRAS = PROJECT["optional-dependencies"]
FEATURES = ("plot", "data", "progress", "onnx", "sklearn", "tensorboard", "image")


def test_license_file_is_the_apache_2_text():
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION" in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(re.findall(r"^\s+\d\. ", text, flags=re.M)) >= 9  # sections 1 to 9
    assert PROJECT["license"] == {"text": "Apache-2.0"}
    assert "License :: OSI Approved :: Apache Software License" in PROJECT["classifiers"]


def test_classifiers_say_typed_and_python_version():
    classifiers = PROJECT["classifiers"]
    assert "Typing :: Typed" in classifiers
    assert "Programming Language :: Python :: 3.11" in classifiers
    assert (ROOT / "src" / "lamina" / "py.typed").is_file()


@pytest.mark.parametrize("extra", [*FEATURES, "docs", "all"])
def test_extras_exist(extra):
    assert EXTRAS.get(extra), f"no '{extra}' extra"


def test_all_extra_holds_every_feature():
    (spec,) = EXTRAS["all"]
    named = set(re.fullmatch(r"lamina\[(.*)\]", spec).group(1).split(","))
    assert named == set(FEATURES)
    assert any(r.startswith("tensorboardX") for r in EXTRAS["tensorboard"])
    assert any(r.startswith("mkdocstrings") for r in EXTRAS["docs"])


def _pip_install_lines():
    for path in sorted((ROOT / "src" / "lamina").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        for i, line in enumerate(lines):
            if "pip install" in line:
                yield path.relative_to(ROOT), i + 1, "\n".join(lines[max(0, i - 1) : i + 2])


def test_every_pip_install_hint_names_a_lamina_extra():
    """A missing optional package says `pip install "lamina[extra]"`, and the extra exists."""
    hints = list(_pip_install_lines())
    assert len(hints) >= 5
    for path, line, context in hints:
        extras = re.findall(r"lamina\[([a-z,]+)\]", context)
        if "jax[" in context:  # JAX's own extras (the GPU install line) are not Lamina's
            continue
        assert extras, f"{path}:{line} names no lamina extra: {context!r}"
        for extra in ",".join(extras).split(","):
            assert extra in EXTRAS, f"{path}:{line} names unknown extra {extra!r}"


def test_missing_matplotlib_names_the_plot_extra(monkeypatch):
    from lamina.callbacks.plot import plot_history

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=re.escape('pip install "lamina[plot]"')):
        plot_history({"loss": [1.0]})


def test_readme_lists_the_extras_and_the_gpu_install():
    readme = (ROOT / "README.md").read_text()
    for extra in (*FEATURES, "all"):
        assert f"`{extra}`" in readme, f"README does not list the {extra!r} extra"
    assert 'pip install -U "jax[cuda12]"' in readme and "jax.devices()" in readme


@pytest.mark.slow
def test_wheel_ships_py_typed_and_license(tmp_path):
    pytest.importorskip("hatchling")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        check=True, capture_output=True, timeout=600,
    )
    (wheel,) = tmp_path.glob("lamina-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "lamina/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") or n.endswith("/LICENSE") for n in names)
    metadata = zipfile.ZipFile(wheel).read(
        next(n for n in names if n.endswith(".dist-info/METADATA"))
    ).decode()
    assert "Classifier: Typing :: Typed" in metadata
    assert "Provides-Extra: all" in metadata


@pytest.mark.slow
def test_mypy_passes_and_sees_typed_public_signatures(tmp_path):
    pytest.importorskip("mypy")
    r = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    user = tmp_path / "user_script.py"
    user.write_text(
        "import lamina\n"
        "model = lamina.Sequential()\n"
        "reveal_type(model.fit)\n"
        "reveal_type(lamina.config.set_guardrails)\n"
        "loss, accuracy = model.evaluate([], [])\n"
    )
    r = subprocess.run(
        [sys.executable, "-m", "mypy", "--follow-imports=silent", "--ignore-missing-imports",
         "--no-incremental", str(user)],
        cwd=tmp_path, capture_output=True, text=True,
    )
    assert r.returncode == 0, r.stdout
    fit, guard = re.findall(r'Revealed type is "(.*)"', r.stdout)
    assert fit.startswith("def (x: Any =") and fit.endswith("-> lamina.callbacks.core.History")
    assert guard == "def (enabled: bool | None)"
