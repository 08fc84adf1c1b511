import numpy as np

from glomo_tf.layers.live_rows import live_row_fractions


def test_hand_computed_fractions():
    # B 1, T 3, L 1, K 2. Forward counts rows 1, 2; backward rows 0, 1.
    graphs = np.zeros((1, 2, 1, 2, 3, 3), "float32")
    graphs[0, 0, 0, 0, 1, 0] = 1.0            # forward head 0: row 1 live, row 2 dead
    graphs[0, 0, 0, 1, 1, 0] = 1.0            # forward head 1: both live
    graphs[0, 0, 0, 1, 2, :2] = 0.5
    graphs[0, 1, 0, 0, 0, 2] = 1.0            # backward head 0: row 0 live, row 1 dead
    fractions = np.asarray(live_row_fractions(graphs))
    np.testing.assert_allclose(fractions[:, 0], [[0.5, 1.0], [0.5, 0.0]])


def test_padding_rows_are_not_counted():
    graphs = np.zeros((1, 2, 1, 1, 4, 4), "float32")
    graphs[0, 0, 0, 0, 1, 0] = 1.0
    graphs[0, 1, 0, 0, 0, 1] = 1.0
    # Length 2: forward counts row 1 only, backward row 0 only.
    fractions = np.asarray(live_row_fractions(graphs, np.array([[1, 1, 0, 0]])))
    np.testing.assert_allclose(fractions.reshape(-1), [1.0, 1.0])
