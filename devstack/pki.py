"""A throwaway certificate authority for the local control plane, made with the openssl CLI.

The API server authenticates its clients (admin, controller-manager, scheduler) by client
certificates signed by this CA, exactly as in a kubeadm cluster, and signs ServiceAccount tokens
with its own RSA key. Files are made once per state directory and reused.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from . import base

DAYS = "3650"
SERVER_SANS = (
    "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
    "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
)


@dataclass(frozen=True)
class Cert:
    cert: Path
    key: Path


def _openssl() -> str:
    exe = shutil.which("openssl")
    if not exe:
        raise base.ComponentError("openssl is not installed (Debian package openssl)")
    return exe


def _ec_key(path: Path) -> None:
    base.run(
        [
            _openssl(),
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-out",
            str(path),
        ]
    )
    path.chmod(0o600)


def ca(pki: Path) -> Cert:
    """The CA, created on first use."""
    result = Cert(pki / "ca.crt", pki / "ca.key")
    if result.cert.exists() and result.key.exists():
        return result
    pki.mkdir(parents=True, exist_ok=True)
    _ec_key(result.key)
    base.run(
        [
            _openssl(),
            "req",
            "-x509",
            "-new",
            "-key",
            str(result.key),
            "-days",
            DAYS,
            "-subj",
            "/CN=autodevops-stack-ca",
            "-out",
            str(result.cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ]
    )
    return result


def leaf(pki: Path, name: str, subject: str, *, server: bool = False) -> Cert:
    """A certificate signed by the CA: a client cert, or the API server's serving cert."""
    result = Cert(pki / f"{name}.crt", pki / f"{name}.key")
    if result.cert.exists() and result.key.exists():
        return result
    authority = ca(pki)
    _ec_key(result.key)
    csr = pki / f"{name}.csr"
    ext = pki / f"{name}.ext"
    usage = "serverAuth" if server else "clientAuth"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if server:
        lines.append(f"subjectAltName={SERVER_SANS}")
    ext.write_text("\n".join(lines) + "\n")
    base.run(
        [_openssl(), "req", "-new", "-key", str(result.key), "-subj", subject, "-out", str(csr)]
    )
    base.run(
        [
            _openssl(),
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(authority.cert),
            "-CAkey",
            str(authority.key),
            "-CAcreateserial",
            "-days",
            DAYS,
            "-extfile",
            str(ext),
            "-out",
            str(result.cert),
        ]
    )
    csr.unlink()
    ext.unlink()
    return result


def service_account_key(pki: Path) -> Cert:
    """The RSA key pair that signs ServiceAccount tokens (cert = public key here)."""
    result = Cert(pki / "sa.pub", pki / "sa.key")
    if result.cert.exists() and result.key.exists():
        return result
    pki.mkdir(parents=True, exist_ok=True)
    base.run(
        [
            _openssl(),
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            str(result.key),
        ]
    )
    result.key.chmod(0o600)
    base.run([_openssl(), "pkey", "-in", str(result.key), "-pubout", "-out", str(result.cert)])
    return result
