"""Helpers to look at images and learned filters in the notebooks."""
from math import ceil, sqrt

import numpy as np


def visualize_grid(Xs, ubound=255.0, padding=1):
    """
    Tile a batch of images into one grid image, for easy visualization.

    Each image is rescaled on its own to the range [0, ubound], so that filters
    with small weights are as visible as images with large pixel values. An
    image whose pixels are all equal is drawn as zeros (black).

    Inputs:
    - Xs: Image data of shape (N, H, W, C); for first-layer conv filters of
      shape (F, C, HH, WW), pass w.transpose(0, 2, 3, 1)
    - ubound: Output grid will have values scaled to the range [0, ubound]
    - padding: The number of blank pixels between elements of the grid

    Returns:
    - grid: Array of shape (G * H + (G - 1) * padding, G * W + (G - 1) * padding, C)
      where G = ceil(sqrt(N)) images fit in each row and column of the grid
    """
    N, H, W, C = Xs.shape
    grid_size = int(ceil(sqrt(N)))
    grid_height = H * grid_size + padding * (grid_size - 1)
    grid_width = W * grid_size + padding * (grid_size - 1)
    grid = np.zeros((grid_height, grid_width, C))  # (grid_height, grid_width, C)

    for idx in range(N):
        row, col = divmod(idx, grid_size)
        top = row * (H + padding)
        left = col * (W + padding)
        img = Xs[idx]  # (H, W, C)
        low, high = np.min(img), np.max(img)
        if high > low:
            grid[top:top + H, left:left + W] = ubound * (img - low) / (high - low)
    return grid
