"""Evaluate a checkpoint the paper's way (10 crops), predict single images, write features.

    model = netdef.load_model("runs/quickstart/ckpt.pt")
    result = evaluate(model, open_eval_data(model), crops=10)
"""

from .evaluation import EvalProgress, EvalResult, evaluate, view_probabilities
from .model import LoadedModel, check_classes, check_classifier, load_model, open_eval_data
from .predict import Prediction, check_layer, feature_layers, features, input_views, predict
from .scores import Totals, average_views, probabilities, topk_credit, topk_names

__all__ = ["LoadedModel", "load_model", "open_eval_data", "check_classes",
           "check_classifier", "evaluate",
           "EvalResult", "EvalProgress", "predict", "Prediction", "features", "feature_layers",
           "check_layer", "input_views", "view_probabilities", "Totals", "average_views",
           "probabilities", "topk_credit", "topk_names"]
