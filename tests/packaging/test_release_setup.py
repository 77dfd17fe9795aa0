"""The CI and release set-up, checked offline: every workflow is valid for GitHub, the wheels
workflow publishes only tags and only through trusted publishing, and cibuildwheel builds the
wheels the project promises on runners that together cover every architecture."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
from _distkit import ROOT, clean_env, run

pytestmark = pytest.mark.packaging

if (ROOT / "PKG-INFO").exists():
    pytest.skip("an unpacked sdist carries no CI set-up to check", allow_module_level=True)

WORKFLOWS = ROOT / ".github" / "workflows"
WHEELS_WORKFLOW = WORKFLOWS / "wheels.yml"

# CPython 3.10 to 3.14, and the free-threaded 3.14.
PYTHONS = ["cp310", "cp311", "cp312", "cp313", "cp314", "cp314t"]
PLATFORM_TAGS = {
    "linux": ["manylinux_x86_64", "manylinux_aarch64", "musllinux_x86_64"],
    "macos": ["macosx_x86_64", "macosx_arm64"],
    "windows": ["win_amd64"],
}
# A proxy nobody listens on: a tool that tries the network while it should not fails.
OFFLINE = {"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
OFFLINE |= {key.lower(): value for key, value in OFFLINE.items()}


def load_yaml(path: Path) -> Any:
    yaml = pytest.importorskip("ruamel.yaml", reason="needs the 'packaging' extra")
    return yaml.YAML(typ="safe").load(path.read_text())


def check_workflows(*paths: Path) -> str:
    pytest.importorskip("check_jsonschema", reason="needs the 'packaging' extra")
    args = [sys.executable, "-m", "check_jsonschema", "--builtin-schema"]
    args += ["vendor.github-workflows", *map(str, paths)]
    return run(args, env=clean_env(NO_PROXY="", no_proxy="", **OFFLINE))


def test_every_workflow_is_valid_against_the_github_workflow_schema() -> None:
    workflows = sorted([*WORKFLOWS.glob("*.yml"), *WORKFLOWS.glob("*.yaml")])
    assert WHEELS_WORKFLOW in workflows
    assert "ok -- validation done" in check_workflows(*workflows)


def test_the_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps: run\n")
    with pytest.raises(pytest.fail.Exception, match=r"broken\.yml::\$\.jobs\.build"):
        check_workflows(broken)


def steps_using(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in job["steps"] if str(step.get("uses", "")).startswith(action)]


def test_wheels_workflow_publishes_tags_only_through_trusted_publishing() -> None:
    workflow = load_yaml(WHEELS_WORKFLOW)
    assert workflow["permissions"] == {"contents": "read"}
    assert workflow["on"]["push"]["tags"] == ["v*"]
    publish = workflow["jobs"]["publish"]
    assert publish["if"] == ("github.event_name == 'push' && startsWith(github.ref, 'refs/tags/v')")
    assert set(publish["needs"]) == {"wheels", "sdist"}
    assert publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    (upload,) = steps_using(publish, "pypa/gh-action-pypi-publish@")
    assert "password" not in upload.get("with", {})  # no token: trusted publishing
    # Only the publishing job may ask for an OIDC token.
    others = [job for name, job in workflow["jobs"].items() if name != "publish"]
    assert all("id-token" not in job.get("permissions", {}) for job in others)


def test_wheels_workflow_uploads_the_wheels_and_an_sdist_built_by_build() -> None:
    jobs = load_yaml(WHEELS_WORKFLOW)["jobs"]
    assert steps_using(jobs["wheels"], "pypa/cibuildwheel@")
    (wheels_upload,) = steps_using(jobs["wheels"], "actions/upload-artifact@")
    assert wheels_upload["with"]["path"] == "wheelhouse/*.whl"
    assert any("python -m build --sdist" in step.get("run", "") for step in jobs["sdist"]["steps"])
    (sdist_upload,) = steps_using(jobs["sdist"], "actions/upload-artifact@")
    assert sdist_upload["with"]["path"] == "dist/*.tar.gz"


def build_identifiers(platform: str, archs: str | None = None) -> list[str]:
    """What cibuildwheel would build from pyproject.toml, asked offline; ``archs`` as a
    workflow runner sets them through CIBW_ARCHS."""
    pytest.importorskip("cibuildwheel", reason="needs the 'packaging' extra on Python 3.11+")
    env = clean_env(**OFFLINE) | ({"CIBW_ARCHS": archs} if archs else {})
    args = [sys.executable, "-m", "cibuildwheel", "--print-build-identifiers"]
    output = run([*args, "--platform", platform, str(ROOT)], env=env)
    return output.split()


@pytest.mark.parametrize("platform", sorted(PLATFORM_TAGS))
def test_cibuildwheel_builds_cpython_3_10_to_3_14_and_free_threaded_3_14(platform: str) -> None:
    expected = {f"{py}-{tag}" for py in PYTHONS for tag in PLATFORM_TAGS[platform]}
    assert sorted(build_identifiers(platform)) == sorted(expected)


def test_wheels_workflow_runners_together_build_each_wheel_once() -> None:
    matrix = load_yaml(WHEELS_WORKFLOW)["jobs"]["wheels"]["strategy"]["matrix"]["include"]
    built: dict[str, list[str]] = {platform: [] for platform in PLATFORM_TAGS}
    for runner in matrix:
        platform = {"ubuntu": "linux", "macos": "macos", "windows": "windows"}[
            runner["os"].split("-")[0]
        ]
        built[platform] += build_identifiers(platform, runner["archs"])
    for platform, identifiers in built.items():
        assert sorted(identifiers) == sorted(build_identifiers(platform)), platform


def test_cibuildwheel_test_commands_run_existing_tests_but_not_these() -> None:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11+")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["cibuildwheel"]
    overrides = [o["test-command"] for o in config.get("overrides", []) if "test-command" in o]
    for command in [config["test-command"], *overrides]:
        assert '-m "not packaging"' in command  # the packaging tests build wheels themselves
        paths = re.findall(r"\{project\}/(\S+)", command)
        assert paths
        assert [path for path in paths if not (ROOT / path).exists()] == []
