"""The grader's own count of a weights file: tensors' elements, read with torch's safe loader only."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from grader.sandbox.weights import Unmeasured, count_parameters


def test_every_tensor_of_the_file_counts(tmp_path: Path) -> None:
    path = tmp_path / "w.pt"
    torch.save({"lin.weight": torch.zeros(10, 784), "lin.bias": torch.zeros(10), "hidden": torch.zeros(2_000_000)},
               path)
    assert count_parameters(path) == 2_007_850


def test_what_cannot_be_measured_is_said_without_quoting_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    torch.save({"w": Payload()}, tmp_path / "code.pt")
    torch.save({"w": [torch.zeros(3)]}, tmp_path / "nested.pt")
    (tmp_path / "garbage.pt").write_bytes(b"SECRET-GARBAGE" * 100)
    (tmp_path / "link.pt").symlink_to(tmp_path / "nested.pt")
    for name, words in [("code.pt", "weights_only"), ("nested.pt", "not a state dict"),
                        ("garbage.pt", "could not be read"), ("link.pt", "not a regular file"),
                        ("absent.pt", "missing")]:
        with pytest.raises(Unmeasured, match=words) as raised:
            count_parameters(tmp_path / name)
        assert "SECRET" not in str(raised.value)
    assert not marker.exists()  # nothing of the file was run
