"""How other hierarchies are made: by k-means on embeddings, or at random.

- ``cluster``: k-means hierarchies of the leaf classes (:func:`~.cluster.cluster_hierarchy`).
- ``sample_maps``: per-sample label maps, finer than the leaves (``--split-leaves``, ``--instance``).
- ``embeddings``: the leaf embeddings that are clustered, and the class-embedding files.
- ``samples``: per-sample input, streamed batch by batch.
- ``vectors``: vectors in parquet and ``.npy`` files, read and checked.
- ``kmeans``: the k-means engine, and :func:`~.kmeans.check_params`, the one check of its parameters.
- ``random``: random hierarchies, the control for label granularity.

Each module imports only those below it in this list (``random`` none of them).
"""
