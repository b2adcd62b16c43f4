"""Using a trained model: batch scoring (``batch``, ``ray_engine``), export
(``export``), raw inputs at predict time (``model_input``) and the HTTP server (``app``,
``middleware``, ``page`` + demo_page.html, ``schemas``).

May import: the core top level, core.data, core.heads and core.train (``run.score_columns``);
not tools, and never verticals/.
"""
