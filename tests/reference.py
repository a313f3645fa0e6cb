"""Float64 NumPy references the tests compare against."""

import numpy as np


def log_softmax(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def softmax(z):
    return np.exp(log_softmax(z))


def kl_per_example(teacher, student, temperature):
    """T^2 * KL(softmax(t/T) || softmax(s/T)) per example, in float64."""
    log_p = log_softmax(np.asarray(teacher, np.float64) / temperature)
    log_q = log_softmax(np.asarray(student, np.float64) / temperature)
    return (np.exp(log_p) * (log_p - log_q)).sum(axis=-1) * temperature**2


def kl_grad_wrt_student(teacher, student, temperature):
    """Gradient of the batch-mean loss w.r.t. student logits: T (q - p) / batch."""
    batch = np.asarray(student).shape[0]
    return (
        temperature
        * (
            softmax(np.asarray(student) / temperature)
            - softmax(np.asarray(teacher) / temperature)
        )
        / batch
    )


def sparse_ce_per_example(labels, logits):
    return -log_softmax(logits)[np.arange(len(labels)), labels]
