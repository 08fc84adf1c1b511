import numpy as np
import pytest

from glomo_tf.transfer.vocabulary_alignment import check_same_vocabulary, map_vocabulary
from tests.export import tiny_module
from tests.export.tiny_module import VOCABULARY


@pytest.fixture(scope="module")
def module_path():
    return tiny_module.exported_module()[1]


def test_same_vocabulary_passes(module_path):
    check_same_vocabulary(list(VOCABULARY), module_path)


def test_other_size_names_both_sizes(module_path):
    with pytest.raises(ValueError, match=rf"has 3 tokens .* has {len(VOCABULARY)}"):
        check_same_vocabulary(["<unk>", "the", "cat"], module_path)


def test_same_size_other_order_names_the_index(module_path):
    swapped = list(VOCABULARY)
    swapped[1], swapped[2] = swapped[2], swapped[1]
    with pytest.raises(ValueError, match=r"differ first at id 1: 'cat' vs 'the'"):
        check_same_vocabulary(swapped, module_path)


def test_map_by_token_string(module_path):
    task = ["<pad>", "cat", "the", "zebra"]
    mapping = map_vocabulary(module_path, task, missing_id=0)
    assert mapping.dtype == np.int32 and mapping.shape == (len(VOCABULARY),)
    assert mapping[VOCABULARY.index("the")] == 2
    assert mapping[VOCABULARY.index("cat")] == 1
    assert mapping[VOCABULARY.index("dog")] == 0
    with pytest.raises(ValueError, match="single string"):
        map_vocabulary(module_path, "the cat")
