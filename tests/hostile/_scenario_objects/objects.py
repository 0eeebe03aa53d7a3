"""Student objects that misbehave inside a scenario, one way per class (objects.yaml says which
problem uses which). Each must cost only its own problem, with a clear message; the classes
named Control and After* are correct and must keep their marks."""

import itertools
import os

import numpy as np


class Control:
    def __init__(self, scale):
        self.W = np.ones(3) * scale

    def double(self, x):
        return 2 * x

    def pair(self, x):
        return x, 2 * x


AfterHang = AfterDelHang = AfterDelExit = Control


class GetattrRaises(Control):
    """Reading any missing attribute raises something other than AttributeError."""

    def __init__(self, scale):
        pass  # W is never set: reading obj.W goes to __getattr__

    def __getattr__(self, name):
        raise RuntimeError(f"no {name} for you")


class GetattrHangs(Control):
    def __init__(self, scale):
        pass

    def __getattr__(self, name):
        while True:
            pass


class PropertyObject(Control):
    """W is a property returning something that is not data."""

    @property
    def W(self):
        return lambda: "not an array"

    @W.setter
    def W(self, value):
        pass


class _Meta(type):
    def __eq__(cls, other):
        raise RuntimeError("metaclass __eq__ exploded")

    __hash__ = type.__hash__


class _Weird(metaclass=_Meta):
    pass


class MetaclassEq(Control):
    """pair() returns an object whose class compares unpredictably."""

    def pair(self, x):
        return x, _Weird()


class _Impostor:
    @property
    def __class__(self):
        return np.ndarray


class FakeClass(Control):
    def pair(self, x):
        return x, _Impostor()


class EndlessIter(Control):
    """pair() returns an endless iterator: unpacking must not try to exhaust it."""

    def pair(self, x):
        return itertools.count()


class DelRaises(Control):
    """A finaliser that raises: Python ignores it, and the right answer keeps its marks."""

    def __del__(self):
        raise RuntimeError("__del__ raised")


class DelHangs(Control):
    def __del__(self):
        while True:
            pass


class CycleDelExits(Control):
    """Part of a reference cycle, so only the garbage collector finalises it: it kills the worker."""

    def __init__(self, scale):
        super().__init__(scale)
        self.me = self

    def __del__(self):
        os._exit(7)
