"""``features`` and ``spec``: what a runtime says about itself, and its default bundle template."""

from __future__ import annotations

import pytest

from dockyard.oci import runtime_spec as rs
from dockyard.util import jsoncodec
from tests.support.conformance import Lab


def test_features(lab: Lab) -> None:
    result = lab.cmd("features")
    if lab.runtime == "crun" and result.returncode != 0:
        pytest.skip(f"crun 1.8.1 has no features command: {result.stderr.strip()}")
    data = jsoncodec.loads(result.ok().stdout)
    assert isinstance(data, dict)
    assert data["ociVersionMin"] == "1.0.0"
    assert "poststop" in data["hooks"]
    linux = data["linux"]
    assert isinstance(linux, dict)
    assert {"pid", "mount", "network", "user"} <= set(linux["namespaces"])
    assert "CAP_SYS_ADMIN" in linux["capabilities"]


def test_spec_writes_a_loadable_template_once(lab: Lab) -> None:
    bundle = lab.dir / "template"
    bundle.mkdir()
    lab.cmd("spec", "--bundle", str(bundle)).ok()
    spec = rs.load_spec(jsoncodec.loads((bundle / "config.json").read_text()))
    assert spec.process is not None
    assert spec.root is not None
    assert spec.root.path == "rootfs"
    assert lab.cmd("spec", "--bundle", str(bundle)).returncode == 1
