"""The solution-region line scanner behind stubs, solved copies and leak checks."""
import pytest

from autograder.authoring.solution_regions import (PYTHON_STUB, Region, SolutionRegionError, find_regions,
                                                   replace_regions, telling_lines)

MODULE = """\
def relu_forward(x):
    out = None
    ### BEGIN SOLUTION
    out = np.maximum(0, x)
    ### END SOLUTION
    return out, x
"""


def test_stub_replaces_region_at_marker_indentation():
    """Is the region replaced by the stub, indented like its begin marker?"""
    assert replace_regions(MODULE, PYTHON_STUB) == (
        "def relu_forward(x):\n"
        "    out = None\n"
        "    # YOUR CODE HERE\n"
        "    raise NotImplementedError()\n"
        "    return out, x\n"
    )


def test_solved_copy_keeps_code_and_drops_markers():
    """Does stub=None keep the solution and drop only the marker lines?"""
    solved = replace_regions(MODULE, None)
    assert "np.maximum(0, x)" in solved
    assert "SOLUTION" not in solved
    assert solved.count("\n") == MODULE.count("\n") - 2


def test_text_without_regions_is_unchanged():
    """Is a file without markers returned byte for byte?"""
    text = "x = 1\n\n# BEGIN nothing\n"
    assert replace_regions(text, PYTHON_STUB) == text


def test_every_region_of_a_file_is_replaced():
    """Are two regions in one function (train and test branch) both stubbed?"""
    text = (
        "if mode == 'train':\n    ### BEGIN SOLUTION\n    a = 1\n    ### END SOLUTION\n"
        "else:\n    ### BEGIN SOLUTION\n    b = 2\n    ### END SOLUTION\n"
    )
    out = replace_regions(text, PYTHON_STUB)
    assert out.count("raise NotImplementedError()") == 2
    assert "a = 1" not in out and "b = 2" not in out


def test_nested_begin_is_an_error_naming_file_and_line():
    """Is an error thrown on a nested begin solution statement?"""
    text = "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx\n### END SOLUTION\n"
    with pytest.raises(SolutionRegionError, match=r"nnl/layers\.py:2: nested"):
        replace_regions(text, PYTHON_STUB, name="nnl/layers.py")


def test_missing_end_is_an_error():
    """Is an error thrown when there is no end solution statement?"""
    with pytest.raises(SolutionRegionError, match=r"m\.py:1: .* no matching"):
        replace_regions("### BEGIN SOLUTION\nx = 1\n", PYTHON_STUB, name="m.py")


def test_stray_end_is_an_error():
    """Is an error thrown on an end statement without a begin (nbgrader drops it silently)?"""
    with pytest.raises(SolutionRegionError, match=r"m\.py:2: .* without a matching"):
        replace_regions("x = 1\n### END SOLUTION\n", PYTHON_STUB, name="m.py")


def test_regions_report_their_lines():
    """Does find_regions give each region's marker lines and body?"""
    (region,) = find_regions(MODULE)
    assert region == Region(3, 5, ("    out = np.maximum(0, x)",))


def test_telling_lines_skip_comments_blanks_and_structure():
    """Are comments, blank lines and `else:`/`pass`/brackets ignored by the leak check?"""
    region = Region(1, 9, ("    # a hint", "", "    else:", "    pass", "    )", "    dx = dout * mask"))
    assert telling_lines(region) == ["dx = dout * mask"]
