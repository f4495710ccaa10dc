"""Numpy layers, layer sandwiches, optimizers and fully connected networks for the fully connected networks assignment."""
