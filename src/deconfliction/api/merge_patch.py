"""PATCH bodies are JSON Merge Patches (RFC 7396), sent as ``application/merge-patch+json``.

A patch names only the members it changes; the media type says so, so a client that meant a
full replacement (PUT) cannot send one to PATCH by mistake, nor the reverse.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from starlette.exceptions import HTTPException

__all__ = ["MERGE_PATCH", "MergePatchBody"]

MERGE_PATCH = "application/merge-patch+json"  # RFC 7396 §4


def _merge_patch_only(request: Request) -> None:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != MERGE_PATCH:
        raise HTTPException(415, f"send the patch as Content-Type: {MERGE_PATCH} (RFC 7396); "
                                 f"got {media_type or 'none'}")


MergePatchBody = Annotated[None, Depends(_merge_patch_only)]
"""A route parameter that refuses any body but a merge patch (415)."""
