"""JAX's persistent compilation cache, on by default so a second process skips most of XLA's
compile time (opt out with ``LAMINA_COMPILATION_CACHE=0``; choose the folder with
``LAMINA_CACHE_DIR``)."""

from __future__ import annotations

import os

from lamina._log import logger

_DONE = {"enabled": None}


def enable_persistent_cache() -> bool:
    """Points JAX's compilation cache at Lamina's cache folder, once per process.

    Does nothing when the user already configured a cache directory for JAX, or opted out.
    Returns whether the cache is in use.
    """
    if _DONE["enabled"] is not None:
        return _DONE["enabled"]
    import jax

    enabled = os.environ.get("LAMINA_COMPILATION_CACHE", "1").lower() not in ("0", "false", "no")
    if enabled and not jax.config.jax_compilation_cache_dir:
        cache_dir = os.environ.get("LAMINA_CACHE_DIR") or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "lamina", "jax"
        )
        try:
            os.makedirs(cache_dir, exist_ok=True)
            jax.config.update("jax_compilation_cache_dir", cache_dir)
            # Small models compile in well under JAX's default 1 s threshold; cache them too.
            jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
            jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
            logger.info("JAX's persistent compilation cache: %s", cache_dir)
        except OSError as e:
            logger.info("no persistent compilation cache (%s): %s", cache_dir, e)
            enabled = False
    _DONE["enabled"] = enabled
    return enabled
