"""derive: worked backpropagation exercises with SymPy, as sheets, keys, variants and checks."""

__version__ = "0.1.0"
