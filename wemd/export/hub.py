"""Publishing a wemd export to the Hugging Face Hub (``wemd publish``, with a dry run)."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Optional

from wemd.errors import WEMDError, require
from wemd.export.hf import CARD, REPO_ID, export_hf, read_card
from wemd.home import PathLike


def hf_token(token: Optional[str] = None) -> str:
    """The Hub token: ``token``, else ``$HF_TOKEN``, else a clear error."""
    token = token or os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    if not token:
        raise WEMDError("Publishing needs a Hugging Face token with write access: create one at "
                        "https://huggingface.co/settings/tokens and set HF_TOKEN=... (it is never "
                        "asked for interactively).")
    return token


def publish(name: str, repo: str, folder: Optional[PathLike] = None, *, token: Optional[str] = None,
            private: bool = False, dry_run: bool = False, root: Optional[PathLike] = None,
            progress: Optional[bool] = None) -> dict[str, Any]:
    """Upload an export of ``name`` (``folder``, or a fresh one) to the Hub dataset ``repo``.

    Returns the plan (repo, folder, files, and ``temporary`` when the export was made here and
    removed again); with ``dry_run`` nothing is uploaded and no token is needed. A real upload
    checks the token before exporting and uses ``huggingface_hub.HfApi.upload_folder``.
    """
    if not re.fullmatch(REPO_ID, repo):
        raise WEMDError(f"--repo must look like ORG/NAME, not {repo!r}.")
    if not dry_run:
        token = hf_token(token)
        hub = require("huggingface_hub", "hf")
    tmp = None
    if folder is None:
        tmp = Path(tempfile.mkdtemp(prefix=f"wemd-publish-{name}-"))
        folder = export_hf(name, tmp, root=root, progress=progress).parent
    folder = Path(folder)
    try:
        if name not in read_card(folder).get("wemd_exports", {}):
            raise WEMDError(f"{folder} holds no export of {name}; run `wemd export-hf {name} "
                            f"{folder}` first.")
        files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
        plan = {"repo": repo, "folder": str(folder), "files": files, "private": private,
                "temporary": tmp is not None}
        if not dry_run:
            api = hub.HfApi(token=token)
            api.create_repo(repo, repo_type="dataset", private=private, exist_ok=True)
            commit = api.upload_folder(repo_id=repo, repo_type="dataset", folder_path=str(folder),
                                       allow_patterns=[CARD, f"{name}/*"],
                                       commit_message=f"wemd export of {name}")
            plan["commit"] = str(commit)
        return plan
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
