"""File helpers the rest of glomo_tf shares, one concept a module (no TensorFlow):

- `compressed`: open a file that may be `.xz`, `.gz`, `.bz2` or `.zip` compressed;
- `sha256`: the SHA-256 of a file;
- `atomic_write`: write a file under a temporary name, then rename it into place.
"""
