"""The k-means defaults shared by the engine and the command line.

Kept free of imports so that ``granularity cluster --help`` can show them without
loading numpy or faiss.
"""

METRICS = ("l2", "cosine")
DEFAULT_NITER = 10
