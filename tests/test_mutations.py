"""The mutation catalogue and the diagnosis it powers."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from autograder.grading.diagnosis import Call, Diagnoser, outputs_match
from autograder.grading.mutations import Mutation, MutationError, load_catalogue, mutate_source, write_mutant
from autograder.grading.rubric import Rubric
from autograder.sandbox.sandbox import Handle

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "autograder" / "suites" / "cnn"
REFERENCE = REPO / "source" / "cnn"
CATALOGUE = load_catalogue(SUITE)


def test_every_graded_function_has_a_catalogued_mistake():
    """Does the catalogue break every function of the rubric at least once?"""
    assert {m.function for m in CATALOGUE} == set(Rubric.load(SUITE / "rubric.toml").functions)


@pytest.mark.parametrize("mutation", CATALOGUE, ids=lambda m: m.name)
def test_each_mutation_applies_to_the_reference_and_changes_it(mutation):
    """Does each mutant still fit the reference (its text is there), compile, and differ from it?"""
    text = (REFERENCE / mutation.module).read_text()
    mutated = mutate_source(text, mutation)
    compile(mutated, mutation.module, "exec")
    assert mutated != text


def test_a_stale_mutation_is_an_error_naming_it():
    stale = Mutation("gone", "relu_forward", "nnl/layers.py", (("np.clip(x, 0, None)", "x"),), "?")
    with pytest.raises(MutationError, match="gone: 'np.clip"):
        mutate_source((REFERENCE / "nnl/layers.py").read_text(), stale)


def test_edits_stay_inside_the_named_function(tmp_path):
    """Does a mutation touch its own function only, even when the same text appears elsewhere?"""
    mutation = next(m for m in CATALOGUE if m.name == "conv_ignores_stride")
    folder = write_mutant(REFERENCE.parent.parent / "solutions_private" / "cnn", mutation, tmp_path / "m")
    line = "top, left = row * stride, col * stride"
    before = (REFERENCE / "nnl" / "conv_layers.py").read_text().count(line)
    assert before > 1, "the line should appear in other functions too for this test to mean anything"
    assert (folder / "nnl" / "conv_layers.py").read_text().count(line) == before - 1


def test_outputs_match_compares_numbers_position_by_position():
    x = np.arange(6.0).reshape(2, 3)
    assert outputs_match((x, Handle(1, "tuple", 0)), (x.copy(), ("anything",)))
    assert not outputs_match((x,), (x + 1e-3,))
    assert not outputs_match((x,), (x.reshape(3, 2),))
    assert outputs_match((Handle(1, "tuple", 0),), (x,)) is None, "nothing compared: neither a match nor not"


def journal_of_relu(output):
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    return [Call("call", "relu_forward", "nnl.layers", None, (x,), {}, False, (output(x), Handle(7, "ndarray", 0)))]


def test_diagnosis_names_the_mistake_whose_outputs_the_student_reproduced():
    """Is a student whose ReLU returns |x| told exactly that?"""
    diagnoser = Diagnoser(REFERENCE, CATALOGUE)
    mutation = diagnoser.diagnose(journal_of_relu(np.abs), "relu_forward")
    assert mutation is not None and mutation.name == "relu_abs"


def test_diagnosis_stays_silent_for_an_unknown_mistake():
    diagnoser = Diagnoser(REFERENCE, CATALOGUE)
    assert diagnoser.diagnose(journal_of_relu(lambda x: x * 2), "relu_forward") is None


def test_diagnosis_replays_a_cache_made_by_the_students_forward():
    """Can a backward mistake be named although the student's cache stayed in the sandbox?"""
    rng = np.random.default_rng(0)
    x, dout = rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(2, 2, 5, 5))
    w, b, param = rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2), {"stride": 1, "pad": 1}
    import sys
    sys.path.insert(0, str(REFERENCE))
    from nnl.conv_layers import conv_backward_naive, conv_forward_naive

    out, cache = conv_forward_naive(x, w, b, param)
    dx, dw, db = conv_backward_naive(dout, cache)
    cache_handle = Handle(3, "tuple", 0)
    journal = [Call("call", "conv_forward_naive", "nnl.conv_layers", None, (x, w, b, param), {}, False,
                    (out, cache_handle)),
               Call("call", "conv_backward_naive", "nnl.conv_layers", None, (dout, cache_handle), {}, False,
                    (dx, dw, dout[0].sum(axis=(1, 2))))]
    mutation = Diagnoser(REFERENCE, CATALOGUE).diagnose(journal, "conv_backward_naive")
    assert mutation is not None and mutation.name == "conv_backward_db_one_image"


DIAGNOSES_OF_A_GRADING = """
import json, sys
from pathlib import Path
from autograder.grading import diagnosis
from autograder.grading.grade import grade
diagnosed = []
replay = diagnosis.Diagnoser.diagnose
def counted(self, journal, function):
    diagnosed.append(function)
    return replay(self, journal, function)
diagnosis.Diagnoser.diagnose = counted
grade(Path(sys.argv[1]), sys.argv[2])
print(json.dumps(diagnosed))
"""


def test_a_failure_on_the_functions_own_stub_is_not_diagnosed(tmp_path):
    """Does the blank release's grading look for no known mistake (it has no outputs to match), while a
    catalogued mistake is still diagnosed?"""
    def diagnosed(submission: Path) -> list:
        done = subprocess.run([sys.executable, "-c", DIAGNOSES_OF_A_GRADING, str(submission), "cnn"],
                              cwd=REPO, capture_output=True, text=True, timeout=300, check=True)
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert diagnosed(REPO / "release" / "cnn") == []
    mutation = CATALOGUE[0]
    mutant = write_mutant(REPO / "solutions_private" / "cnn", mutation, tmp_path / "mutant")
    assert mutation.function in diagnosed(mutant)


def test_a_known_mistake_of_the_loss_is_named_when_init_raises(tmp_path):
    """Is a catalogued loss mistake still named when the student's __init__ raises, so that the model
    is made without it (``__new__``, the template's attributes set in the sandbox)?"""
    mutation = next(m for m in CATALOGUE if m.name == "cnn_no_hidden_relu")
    mutant = write_mutant(REPO / "solutions_private" / "cnn", mutation, tmp_path / "mutant")
    model = mutant / mutation.module
    source = model.read_text()
    init = "        self.params = {}\n"
    assert source.count(init) == 1, "the solved __init__ changed: update this test"
    model.write_text(source.replace(init, "        raise RuntimeError('my __init__ is broken')\n" + init))
    subprocess.run([sys.executable, "-m", "autograder", "grade", str(mutant), "--assignment", "cnn",
                    "--json", str(tmp_path / "results.json")], cwd=REPO, capture_output=True, timeout=300)
    tests = json.loads((tmp_path / "results.json").read_text())["tests"]
    init_tests = [t for t in tests if "test_init_" in t["name"]]
    assert init_tests and all("my __init__ is broken" in t["output"] for t in init_tests)
    (scores,) = [t for t in tests if "test_scores_match_reference[fs3-plain]" in t["name"]]
    assert scores["score"] == 0 and f"Your outputs match a known mistake: {mutation.mistake}." in scores["output"]
