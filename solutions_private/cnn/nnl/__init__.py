"""Numpy layers, layer sandwiches and optimizers for the convolutional networks assignment."""
