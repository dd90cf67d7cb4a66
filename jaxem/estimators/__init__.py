"""Estimators with scikit-learn's and hmmlearn's interfaces over jaxem's engine."""
