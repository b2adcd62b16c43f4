"""Data plumbing: the dataset contracts (``adapter``: Task, Split, DatasetSplits,
DatasetAdapter), where files come from (``sources``), dataset cards (``catalogue``), splits,
table schemas and readers (``schema``, ``tabular``) and ``verticalkit data inspect`` (``inspect``).

May import: the core top level (errors, io, config) and third-party libraries; nothing else in
core/ (no heads, training, evaluation or serving), and never verticals/.
"""
