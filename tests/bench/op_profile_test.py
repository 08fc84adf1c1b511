"""bench/op_profile.py reads the TF profiler's trace: op types, parts and the matmul-class share."""

import pytest

from bench import op_profile


def test_op_classes_and_parts():
    assert op_profile.is_matmul_class("MatMul")
    assert op_profile.is_matmul_class("_FusedMatMul")
    assert op_profile.is_matmul_class("Conv2DBackpropFilter")
    assert op_profile.is_matmul_class("BatchMatMulV2")
    assert op_profile.is_matmul_class("_MklNativeConv2DBackpropInput")
    assert not op_profile.is_matmul_class("SparseSoftmaxCrossEntropyWithLogits")
    assert op_profile.part_of(
        "gradient_tape/glomo_pretrainer_1/forward_graph_predictor_1/einsum/Einsum") == "graph predictors"
    assert op_profile.part_of(
        "gradient_tape/sparse_categorical_crossentropy/SparseSoftmaxCrossEntropyWithLogits/mul"
    ) == "softmax cross-entropy"
    # The downstream classifier's parts (`--what downstream-cached`).
    assert op_profile.part_of(
        "imdb_classifier_1/encoder_1/graph_transfer_1/SegmentSum") == "graph transfer"
    assert op_profile.part_of("imdb_classifier_1/glove_1/GatherV2") == "GloVe lookup"


def test_canonical_op_type_drops_the_onednn_prefix():
    # AVX-512 machines run oneDNN kernels whose types carry a prefix; AVX2 ones may not.
    assert op_profile.canonical_op_type("_MklMatMul") == "MatMul"
    assert op_profile.canonical_op_type("_MklNativeFusedMatMul") == "_FusedMatMul"
    assert op_profile.canonical_op_type("_MklNativeConv2DBackpropFilter") == "Conv2DBackpropFilter"
    assert op_profile.canonical_op_type("_FusedMatMul") == "_FusedMatMul"
    assert op_profile.canonical_op_type("MatMul") == "MatMul"


@pytest.mark.slow
def test_profiles_a_tiny_train_step(tmp_path, capsys):
    op_profile.main(["--what", "train", "--config", "tiny", "--batch", "2", "--length", "16",
                     "--steps", "1", "--logdir", str(tmp_path), "--no-write"])
    out = capsys.readouterr().out
    assert "Matmul-class ops:" in out
    assert "graph predictors" in out
    # The trace itself stays for TensorBoard.
    assert list(tmp_path.rglob("*.xplane.pb"))
    totals = op_profile.op_times(str(tmp_path))
    assert totals and all(seconds >= 0 for seconds in totals.values())
    assert not any("::" in name for name, _ in totals)
    # Which kernels run (and so their type names) depends on the CPU; that some matmul-class
    # op ran and none keeps oneDNN's prefix does not.
    op_types = {op_type for _, op_type in totals}
    assert any(op_profile.is_matmul_class(t) for t in op_types), op_types
    assert not any(t.startswith("_Mkl") for t in op_types), op_types
