"""Layers, losses and training for graphc graphs: ``gc.nn``."""

from graphc.nn import init
from graphc.nn.activations import (
    ELU,
    GELU,
    Dropout,
    LeakyReLU,
    SiLU,
    Softplus,
    elu,
    gelu,
    leaky_relu,
    silu,
    softplus,
)
from graphc.nn.attention import MultiHeadAttention
from graphc.nn.batchnorm import BatchNorm1d, BatchNorm2d
from graphc.nn.conv import AvgPool2d, Conv1d, Conv2d, Conv3d, ConvTranspose2d, Flatten, MaxPool2d
from graphc.nn.dropout import dropout
from graphc.nn.embedding import Embedding
from graphc.nn.layers import MLP, Linear, ReLU, Sequential, Sigmoid, Tanh, get_activation
from graphc.nn.losses import (
    accuracy,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from graphc.nn.module import Module
from graphc.nn.norm import LayerNorm, RMSNorm
from graphc.nn.recurrent import GRU, LSTM, RNN
from graphc.nn.train import History, NonFiniteLossError, fit, load_params, save_params
from graphc.ops import relu, sigmoid, tanh

__all__ = [
    "AvgPool2d", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d", "Flatten", "MaxPool2d",
    "binary_cross_entropy", "huber_loss", "nll_loss", "smooth_l1_loss",
    "LayerNorm", "MultiHeadAttention", "RMSNorm",
    "History", "Linear", "MLP", "Module", "NonFiniteLossError", "ReLU", "Sequential", "Sigmoid",
    "Tanh", "accuracy", "binary_cross_entropy_with_logits", "cross_entropy", "dropout", "fit",
    "get_activation", "init", "load_params", "mse_loss", "relu", "save_params", "sigmoid", "tanh",
    "BatchNorm1d", "BatchNorm2d", "Dropout", "ELU", "Embedding", "GELU", "GRU", "LSTM",
    "LeakyReLU", "RNN", "SiLU", "Softplus", "elu", "gelu", "leaky_relu", "silu", "softplus",
]
