"""CNN layers written by hand in NumPy, each with its forward and backward pass, for teaching.

Every op is a pair of functions: ``*_forward(x, ...) -> (out, cache)`` and
``*_backward(dout, cache) -> gradients``. Tests check each one against torch and against a
centred numerical gradient (``gradcheck``). ``value`` is a scalar computational graph with
``backward()``, the same chain rule one number at a time. ``layers`` wraps the ops as objects, ``convnet``
builds and trains a small ConvNet from them, ``explain`` writes out convolution and pooling step
by step next to torch's numbers::

    import numpy as np
    from cnnlab import scratch
    y = scratch.corr2d(np.arange(1.0, 10).reshape(3, 3), np.array([[0.0, 1], [2, 3]]))  # [[25, 31], [43, 49]]
"""
from cnnlab.scratch.activations import relu_backward, relu_forward, sigmoid_backward, sigmoid_forward
from cnnlab.scratch.conv import conv2d_naive_backward, conv2d_naive_forward, corr2d, corr2d_backward, output_size
from cnnlab.scratch.convnet import SGD, EpochStats, accuracy, fit, predict, scratch_convnet, train_step
from cnnlab.scratch.dropout import dropout_backward, dropout_forward
from cnnlab.scratch.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from cnnlab.scratch.im2col import col2im, conv2d_im2col_backward, conv2d_im2col_forward, im2col
from cnnlab.scratch.layers import (
    AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Layer, Linear, MaxPool2d, ReLU, Sequential, Sigmoid,
)
from cnnlab.scratch.linear import linear_backward, linear_forward
from cnnlab.scratch.loss import softmax_cross_entropy
from cnnlab.scratch.norm import (
    batchnorm_backward, batchnorm_forward, spatial_batchnorm_backward, spatial_batchnorm_forward,
)
from cnnlab.scratch.pool import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from cnnlab.scratch.value import Value

__all__ = [
    "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d", "Dropout", "EpochStats", "Layer", "Linear", "MaxPool2d",
    "ReLU", "SGD", "Sequential", "Sigmoid", "Value", "accuracy", "avg_pool2d_backward", "avg_pool2d_forward",
    "batchnorm_backward", "batchnorm_forward", "col2im", "conv2d_im2col_backward", "conv2d_im2col_forward",
    "conv2d_naive_backward", "conv2d_naive_forward", "corr2d", "corr2d_backward", "dropout_backward",
    "dropout_forward", "fit", "im2col", "linear_backward", "linear_forward", "max_pool2d_backward",
    "max_pool2d_forward", "numerical_gradient", "numerical_gradient_array", "output_size", "predict", "rel_error",
    "relu_backward", "relu_forward", "scratch_convnet", "sigmoid_backward", "sigmoid_forward",
    "softmax_cross_entropy", "spatial_batchnorm_backward", "spatial_batchnorm_forward", "train_step",
]
