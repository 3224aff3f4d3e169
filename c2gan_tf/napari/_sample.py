"""Sample data: synthetic degraded (domain A) and good (domain B) images, so that a newcomer can try everything."""


def synthetic_pair():
    """Four degraded images and four good images of other scenes (unpaired), 256 x 256, as two stacks.

    Returns
    -------
    list of (numpy.ndarray, dict, str)
        napari layer data: ``degraded (A)`` and ``good (B)``, uint16 camera counts.
    """
    import numpy as np

    from ..synthetic import generate
    data = generate(ndim=2, n_a=4, n_b=4, n_test=0, seed=0)
    return [(np.stack(data['A']), {'name': 'degraded (A)'}, 'image'),
            (np.stack(data['B']), {'name': 'good (B)'}, 'image')]
