"""Model weights: the registry (what is known) and the store (locate, fetch, verify, import, load).

``from engine import weights; weights.locate("a2v_v1")`` works as a shortcut for the store's functions.
"""
from engine.weights.registry import (  # noqa: F401
                                     REGISTRY,
                                     WeightsEntry,
                                     WeightsError,
                                     WeightsNotFound,
                                     get_entry,
                                     register,
                                     unregister,
)
from engine.weights.store import (  # noqa: F401
                                     cache_dir,
                                     cache_path,
                                     ensure,
                                     fetch,
                                     find_cached,
                                     hint,
                                     import_file,
                                     load_array,
                                     load_state_dict,
                                     locate,
                                     manual_steps,
                                     offline,
                                     sha256_of,
                                     verify,
                                     verify_path,
)
