"""GLoMo: unsupervised learning of transferable relational graphs, in Keras 3 / TensorFlow."""

__version__ = "0.1.0"
