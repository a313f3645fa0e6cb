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


def soft_ce_per_example(teacher, student, temperature):
    """-T^2 sum_c softmax(t/T)_c log softmax(s/T)_c, in float64."""
    p = softmax(np.asarray(teacher, np.float64) / temperature)
    log_q = log_softmax(np.asarray(student, np.float64) / temperature)
    return -(p * log_q).sum(axis=-1) * temperature**2


def mse_per_example(teacher, student):
    diff = np.asarray(student, np.float64) - np.asarray(teacher, np.float64)
    return (diff**2).reshape(len(diff), -1).mean(axis=-1)


def dkd_per_example(teacher, student, temperature, alpha, beta, labels):
    """Zhao et al.'s TCKD/NCKD with the ground-truth `labels` as target, float64.

    Written from probabilities, as in the paper, not in log space as the package.
    Pass `teacher.argmax(-1)` as `labels` for the package's no-label fallback.
    """
    t = np.asarray(teacher, np.float64) / temperature
    s = np.asarray(student, np.float64) / temperature
    p, q = softmax(t), softmax(s)
    rows = np.arange(len(t))
    g = np.asarray(labels).reshape(len(t)).astype(int)
    b_p = np.stack([p[rows, g], 1 - p[rows, g]], axis=-1)
    b_q = np.stack([q[rows, g], 1 - q[rows, g]], axis=-1)
    tckd = (b_p * np.log(b_p / b_q)).sum(axis=-1)
    keep = np.ones_like(p, bool)
    keep[rows, g] = False
    p_hat = np.where(keep, p, 0) / np.where(keep, p, 0).sum(-1, keepdims=True)
    q_hat = np.where(keep, q, 0) / np.where(keep, q, 0).sum(-1, keepdims=True)
    ratio = np.where(keep, p_hat / np.where(keep, q_hat, 1), 1)
    nckd = (p_hat * np.log(ratio)).sum(axis=-1)
    return (alpha * tckd + beta * nckd) * temperature**2


def pearson(a, b, axis, eps=1e-8):
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    return (a * b).sum(axis) / (
        np.linalg.norm(a, axis=axis) * np.linalg.norm(b, axis=axis) + eps
    )


def dist_per_example(teacher, student, temperature, beta, gamma):
    """Huang et al.'s DIST: T^2 (beta (1 - rho_inter) + gamma (1 - mean rho_intra))."""
    p = softmax(np.asarray(teacher, np.float64) / temperature)
    q = softmax(np.asarray(student, np.float64) / temperature)
    inter = 1 - pearson(q, p, axis=1)
    intra = 1 - pearson(q, p, axis=0).mean()
    return (beta * inter + gamma * intra) * temperature**2


def attention_per_example(teacher, student, p=2.0):
    """Zagoruyko & Komodakis: mean_j (a_s - a_t)^2 of L2-normalised mean_c |f|^p."""

    def attention(f):
        f = np.asarray(f, np.float64)
        a = (np.abs(f) ** p).mean(axis=-1).reshape(len(f), -1)
        return a / np.linalg.norm(a, axis=-1, keepdims=True)

    return ((attention(student) - attention(teacher)) ** 2).mean(axis=-1)
