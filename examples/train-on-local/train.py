"""Azure ML's train-on-local training script, with its import line changed to runlog.

A ridge-regression sweep over 20 alphas on scikit-learn's diabetes data set: each
alpha and its test mean squared error are logged to the run (``alpha`` and ``mse``
come back from ``run.get_metrics()`` as lists of 20), each model is saved under
./outputs (kept in the run when it ends). ``--alpha`` picks the model also saved
as outputs/model.pkl.
"""

import argparse
import os
import pickle

import mylib
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

from runlog import Run

parser = argparse.ArgumentParser()
parser.add_argument("--alpha", type=float, default=0.5, help="alpha of the model saved as outputs/model.pkl")
args = parser.parse_args()

run = Run.get_context()
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
os.makedirs("outputs", exist_ok=True)

for alpha in mylib.get_alphas():
    reg = Ridge(alpha=alpha)
    reg.fit(X_train, y_train)
    mse = mean_squared_error(y_test, reg.predict(X_test))
    run.log("alpha", alpha)
    run.log("mse", mse)
    with open(f"outputs/ridge_{alpha:.2f}.pkl", "wb") as fh:
        pickle.dump(reg, fh)
    print(f"alpha is {alpha:.2f}, and mse is {mse:.2f}")

final = Ridge(alpha=args.alpha).fit(X_train, y_train)
run.tag("chosen_alpha", args.alpha)
run.log("chosen_mse", mean_squared_error(y_test, final.predict(X_test)))
with open("outputs/model.pkl", "wb") as fh:
    pickle.dump(final, fh)
