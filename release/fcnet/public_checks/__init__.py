"""
The notebooks' checks of the graded functions, one file per module of nnl/.

public_checks/conv_layers.py checks nnl/conv_layers.py, and so on. The score
cells run them through utils/public_checks.py. They are not your grade: hidden
tests grade your code after you submit.
"""
