"""Distillation losses: each compares teacher and student outputs per example."""

from keras_distill.losses.base import DistillationLoss
from keras_distill.losses.decoupled import DKD
from keras_distill.losses.dist import DIST
from keras_distill.losses.feature import AttentionTransfer
from keras_distill.losses.feature import Hint
from keras_distill.losses.feature import attention_map
from keras_distill.losses.registry import available
from keras_distill.losses.registry import get
from keras_distill.losses.registry import register
from keras_distill.losses.response import KLDivergence
from keras_distill.losses.response import LogitMSE
from keras_distill.losses.response import ProbabilityLoss
from keras_distill.losses.response import SoftTargetCrossEntropy
from keras_distill.losses.response import distillation_loss
from keras_distill.losses.response import kl_divergence_per_example

__all__ = [
    "DIST",
    "DKD",
    "AttentionTransfer",
    "DistillationLoss",
    "Hint",
    "KLDivergence",
    "LogitMSE",
    "ProbabilityLoss",
    "SoftTargetCrossEntropy",
    "attention_map",
    "available",
    "distillation_loss",
    "get",
    "kl_divergence_per_example",
    "register",
]
