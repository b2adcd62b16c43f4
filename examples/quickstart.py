# %% [markdown]
# # verticalkit from Python
#
# Run it as a script (`python examples/quickstart.py`) or cell by cell in VS Code / Jupyter
# (`# %%` cells). Everything here runs offline in about a minute on a laptop CPU: the German
# credit data ships with the kit, and the last part trains on a table built in memory.

# %%
import numpy as np
import pandas as pd

import verticalkit as vk

print(vk.verticals())
print(vk.datasets("fraud"), vk.models("fraud"))

# %% [markdown]
# ## A dataset's splits, as training sees them

# %%
splits = vk.load_dataset("fraud", "german-credit", fold=0)  # keyword args are the data.* config keys
print(splits.task.kind, splits.protocol, len(splits.train), len(splits.val), len(splits.test))
print(splits.train.X.head(3))

# %% [markdown]
# ## Train: a run directory with metrics (95% bootstrap CIs), report and model card

# %%
run = vk.train("fraud", "german-credit", "scorecard", seed=0)  # nested config: train={...}, model_params={...}
print(run)
print(f"roc_auc {run.metrics['roc_auc']:.3f}, 95% CI {run.ci['roc_auc']}; report: {run.report_path}")

# %% [markdown]
# ## Predict and explain (reason codes where the head gives them)

# %%
model = vk.load(run.dir)  # any run directory, e.g. one `verticalkit train` wrote
applicants = splits.test.X.head(3)
print(model.predict(applicants))
for rid, reasons in model.explain(applicants).itertuples(index=False):
    print(rid, "reasons:", reasons)

# %% [markdown]
# ## Your own data, in memory

# %%
rng = np.random.default_rng(0)
amount = rng.gamma(2.0, 50.0, 2000)
df = pd.DataFrame({"amount": amount, "hour": rng.integers(0, 24, 2000),
                   "channel": rng.choice(["web", "pos", "app"], 2000)})
df["is_fraud"] = ((amount > 150) & (rng.random(2000) < 0.5)).astype(int)

own = vk.train("fraud", model="gbdt", data=df, target="is_fraud",
               data_params={"categorical_columns": ["channel"]})
print(own)
print(own.predictor.predict(df.drop(columns="is_fraud").tail(3)))

# %% [markdown]
# ## Evaluate a run again, on another split

# %%
print(vk.evaluate(run.dir, split="val"))
