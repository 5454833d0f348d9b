"""The upload, through huggingface_hub's own calls: ``create_repo(exist_ok=True)`` then one ``upload_folder``.

The token comes from ``HF_TOKEN`` or the cached ``hf auth login`` (huggingface_hub's ``get_token``
reads both); it is handed to ``HfApi`` and never written, logged or put in a message. Every
failure is one line that says what happened to the repo: ``upload_folder`` makes one commit, so
a failed upload leaves the repo as it was (at most created and empty).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import UserError
from .folder import ALLOW

DOING = {"owner": "look up the owner of", "create": "create", "upload": "upload to"}
NETWORK_MODULES = ("httpx", "httpx2", "httpcore", "requests", "urllib3", "socket", "ssl")


@dataclass(frozen=True)
class Uploaded:
    repo_id: str
    url: str  # the commit's page on the Hub
    files: int


def check_repo_id(repo_id: str) -> str:
    """OWNER/NAME as the Hub accepts it: its own validator judges the characters, we require the owner."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise UserError(
            f"--repo {repo_id!r}: give OWNER/NAME (your user or organisation name, a slash, the model's name)"
        )
    try:
        validate_repo_id(repo_id)
    except HFValidationError as e:
        raise UserError(
            f"--repo {repo_id!r}: the Hub would refuse this name ({str(e).split(':')[0]})"
        ) from None
    return repo_id


def _token() -> str:
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise UserError(
            "no Hugging Face token: set HF_TOKEN or run `hf auth login` (a write token); nothing was uploaded"
        )
    return token


def _status(e: Exception) -> int | None:
    response = getattr(e, "response", None)
    return getattr(response, "status_code", None)


def _network(e: BaseException) -> bool:
    return isinstance(e, (OSError, TimeoutError)) or type(e).__module__.split(".")[0] in NETWORK_MODULES


def _explain(e: Exception, repo_id: str, stage: str) -> UserError:
    """One line per failure, saying what the Hub now holds."""
    held = {
        "owner": "nothing was created",
        "create": "nothing was created",
        "upload": f"{repo_id} exists but received no commit from this run",
    }[stage]
    code = _status(e)
    if code == 401:
        return UserError(f"the Hub refused the token (401); set HF_TOKEN to a valid write token; {held}")
    if code == 403:
        return UserError(
            f"the Hub does not let this token write to {repo_id} (403: a repo owned by someone else, "
            f"or a read-only token); {held}"
        )
    if code is not None:
        return UserError(f"the Hub answered {code} while trying to {DOING[stage]} {repo_id}; {held}")
    return UserError(
        f"network failure while trying to {DOING[stage]} {repo_id} ({type(e).__name__}); {held}; "
        "re-run to try again"
    )


def _check_owner(api: Any, repo_id: str) -> None:
    """A name under someone else's account is refused before anything is created."""
    me = api.whoami()
    mine = {me.get("name")} | {o.get("name") for o in me.get("orgs", []) if isinstance(o, dict)}
    owner = repo_id.split("/", 1)[0]
    if owner not in mine:
        raise UserError(
            f"--repo {repo_id}: {owner!r} is neither this token's user ({me.get('name')}) nor one of its "
            "organisations; nothing was uploaded"
        )


def upload(
    folder: Path,
    files: list[str],
    repo_id: str,
    private: bool,
    say: Callable[[str], None] = lambda m: None,
    api: Any = None,
) -> Uploaded:
    """create_repo(exist_ok=True), then one commit of ``folder``'s ``files`` (ALLOW's patterns)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    check_repo_id(repo_id)
    api = api or HfApi(token=_token())
    stage = "owner"
    try:
        _check_owner(api, repo_id)
        stage = "create"
        say(f"creating (or reusing) the model repo {repo_id}" + (" (private)" if private else ""))
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        stage = "upload"
        say(f"uploading {len(files)} files from {folder} (huggingface_hub shows the progress of large files)")
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="model",
            folder_path=str(folder),
            allow_patterns=list(ALLOW),
            commit_message="ascii-lora publish: LoRA, model card, measured pictures",
        )
    except UserError:
        raise
    except HfHubHTTPError as e:
        raise _explain(e, repo_id, stage) from None
    except ValueError as e:  # upload_folder's answer to README.md metadata the Hub's validator refused
        if "metadata" not in str(e):
            raise
        first = str(e).strip().splitlines()
        raise UserError(
            f"the Hub refused the model card ({' '.join(first[:2])}); {repo_id} received no commit"
        ) from None
    except Exception as e:  # noqa: BLE001 - a network library's own error classes differ by version
        if _network(e):
            raise _explain(e, repo_id, stage) from None
        raise
    return Uploaded(
        repo_id, str(getattr(info, "commit_url", "") or f"https://huggingface.co/{repo_id}"), len(files)
    )
