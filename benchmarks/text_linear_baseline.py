"""How hard is the text benchmark's task? Linear models on the same token ids.

Writes the fortunes folder `benchmarks/text.py` uses and loads it the same
way (`keras_distill.demo.dataset.load_data`: the same split, vocabulary of the
training texts, ids cut to the same sequence length), then fits scikit-learn
classifiers on bags of those token ids (unigram and unigram + bigram counts,
TF-IDF weighted): what a model with no word order or depth reaches on exactly
the students' inputs. Prints one Markdown table.

    python3 benchmarks/text_linear_baseline.py
"""

import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_distill.data import make_fortunes_folder  # noqa: E402
from keras_distill.demo import dataset  # noqa: E402


def as_words(ids) -> list[str]:
    """Each row of token ids as a string of words `t<id>`, padding dropped."""
    return [" ".join(f"t{i}" for i in row if i != 0) for row in ids]


def main() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    out = tempfile.mkdtemp(prefix="kd_text_linear_")
    data = dataset.load_data(str(make_fortunes_folder(os.path.join(out, "f"))), seed=0)
    print(data.description)
    x_train, y_train = data.arrays("train")
    x_test, y_test = data.arrays("test")
    train, test = as_words(x_train), as_words(x_test)
    print("\n| features | classifier | test accuracy % |\n|---|---|---|")
    for ngrams in ((1, 1), (1, 2)):
        vectorizer = TfidfVectorizer(
            ngram_range=ngrams, sublinear_tf=True, token_pattern=r"\S+"
        )
        a, b = vectorizer.fit_transform(train), vectorizer.transform(test)
        for name, model in (
            ("logistic regression, C=1", LogisticRegression(C=1, max_iter=2000)),
            ("logistic regression, C=10", LogisticRegression(C=10, max_iter=2000)),
            ("linear SVM", LinearSVC()),
        ):
            accuracy = model.fit(a, y_train).score(b, y_test)
            features = f"TF-IDF of {ngrams} token-id n-grams"
            print(f"| {features} | {name} | {100 * accuracy:.1f} |")


if __name__ == "__main__":
    main()
