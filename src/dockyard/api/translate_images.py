"""Images at the edge: list rows, inspect documents, history, delete and prune reports.

The shapes follow the API version of the request (moby ``api/docs/CHANGELOG.md``):

- before 1.43, an untagged image lists ``RepoTags: ["<none>:<none>"]`` and an undigested one
  ``RepoDigests: ["<none>@<none>"]``; from 1.43 both are empty arrays and clients print
  ``<none>`` themselves;
- ``VirtualSize`` (always equal to ``Size`` since layers are shared) exists before 1.44;
- ``Container`` and ``ContainerConfig`` of image inspect exist before 1.45 (empty: we build no
  images from containers).
"""

from __future__ import annotations

from dockyard.api import versions
from dockyard.api.versions import ApiVersion
from dockyard.engine import EMPTY_CONTAINER_CONFIG, HistoryEntry, ImageDetails, ImageSummary

__all__ = ["delete_report", "history_rows", "image_document", "image_summary", "prune_report"]


def image_summary(image: ImageSummary, version: ApiVersion) -> dict[str, object]:
    """One row of ``GET /images/json``."""
    tags = list(image.repo_tags)
    digests = list(image.repo_digests)
    if versions.emits_none_repo_tags(version):
        tags = tags or ["<none>:<none>"]
        digests = digests or ["<none>@<none>"]
    row: dict[str, object] = {
        "Containers": image.containers,
        "Created": image.created,
        "Id": image.id,
        "Labels": dict(image.labels),
        "ParentId": image.parent_id,
        "RepoDigests": digests,
        "RepoTags": tags,
        "SharedSize": image.shared_size,
        "Size": image.size,
    }
    if versions.has_virtual_size(version):
        row["VirtualSize"] = image.size
    return row


def image_document(image: ImageDetails, version: ApiVersion) -> dict[str, object]:
    """``GET /images/{name}/json``."""
    document: dict[str, object] = {
        "Id": image.id,
        "RepoTags": list(image.repo_tags),
        "RepoDigests": list(image.repo_digests),
        "Parent": image.parent,
        "Comment": image.comment,
        "Created": image.created,
    }
    if versions.has_image_container_config(version):
        document["Container"] = ""
        document["ContainerConfig"] = dict(EMPTY_CONTAINER_CONFIG)  # zero values: not committed
    document.update(
        {
            "DockerVersion": image.docker_version,
            "Author": image.author,
            "Config": image.config,
            "Architecture": image.architecture,
        }
    )
    if image.variant:
        document["Variant"] = image.variant
    document["Os"] = image.os
    if image.os_version:
        document["OsVersion"] = image.os_version
    document["Size"] = image.size
    if versions.has_virtual_size(version):
        document["VirtualSize"] = image.size
    document["GraphDriver"] = image.graph_driver
    document["RootFS"] = image.root_fs
    document["Metadata"] = {"LastTagTime": image.last_tag_time or "0001-01-01T00:00:00Z"}
    return document


def history_rows(entries: list[HistoryEntry]) -> list[dict[str, object]]:
    """``GET /images/{name}/history``, newest first."""
    return [
        {
            "Id": e.id,
            "Created": e.created,
            "CreatedBy": e.created_by,
            "Tags": list(e.tags) or None,
            "Size": e.size,
            "Comment": e.comment,
        }
        for e in entries
    ]


def delete_report(actions: list[tuple[str, str]]) -> list[dict[str, str]]:
    """``DELETE /images/{name}``: ``[{"Untagged": ref}, {"Deleted": id}, ...]``."""
    return [{kind: value} for kind, value in actions]


def prune_report(deleted: list[tuple[str, str]], reclaimed: int) -> dict[str, object]:
    """``POST /images/prune``."""
    return {"ImagesDeleted": delete_report(deleted) or None, "SpaceReclaimed": reclaimed}
