"""Well-behaved versions of the classes of tests/data/scenario/objects.yaml."""

import numpy as np


class Control:
    def __init__(self, scale):
        self.W = np.ones(3) * scale

    def double(self, x):
        return 2 * x

    def pair(self, x):
        return x, 2 * x


GetattrRaises = GetattrHangs = AfterHang = PropertyObject = MetaclassEq = FakeClass = EndlessIter = Control
DelRaises = DelHangs = AfterDelHang = CycleDelExits = AfterDelExit = Control
