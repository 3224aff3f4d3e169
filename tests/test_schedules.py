import numpy as np
import pytest

from c2gan_tf import schedules


def test_structural_weight_schedules():
    assert float(schedules.structural_weight(0, 5.0, 100.0)) == pytest.approx(5.0)
    assert float(schedules.structural_weight(100, 5.0, 100.0)) == pytest.approx(5 * np.exp(-1), rel=1e-6)
    assert float(schedules.structural_weight(600, 5.0, 100.0)) == pytest.approx(5 * np.exp(-6), rel=1e-5)
    assert float(schedules.structural_weight(10 ** 6, 2.5, decay='constant')) == 2.5
    # a floor: the decay stops at the fraction of rho0 given
    assert float(schedules.structural_weight(50, 5.0, 100.0, floor=0.2)) == pytest.approx(5 * np.exp(-0.5), rel=1e-6)
    assert float(schedules.structural_weight(600, 5.0, 100.0, floor=0.2)) == pytest.approx(1.0, rel=1e-6)


def test_learning_rate_schedule():
    lr = [float(schedules.learning_rate(s, 2e-4, 100)) for s in (0, 50, 75, 100, 150)]
    np.testing.assert_allclose(lr, [2e-4, 2e-4, 1e-4, 0, 0], atol=1e-12)
    assert float(schedules.learning_rate(80, 1e-3, 100, decay_start=0.6)) == pytest.approx(5e-4)
    assert float(schedules.learning_rate(99, 2e-4, 100, decay='constant')) == pytest.approx(2e-4)
