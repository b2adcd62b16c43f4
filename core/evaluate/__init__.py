"""Evaluation and reporting: metrics per task kind (``metrics``), bootstrap CIs,
calibration, decision thresholds and operating points, baselines, the evaluator, the HTML
report and the model card.

May import: the core top level, core.data and core.heads; not train, serve or tools, and never
verticals/.
"""
