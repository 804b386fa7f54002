"""Credentials of the dev stack's control plane: a CA, serving and client certificates, the
service-account signing key pair and kubeconfigs.

Called by `components` before the control plane starts; idempotent (existing files are kept, so a
restarted stack keeps trusting the tokens and kubeconfigs it handed out).
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=365)

APISERVER_SANS_DNS = ("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
                      "kubernetes.default.svc.cluster.local")
APISERVER_SANS_IP = ("127.0.0.1", "10.0.0.1")


@dataclass(frozen=True)
class ClientIdentity:
    """A client certificate's subject: `common_name` is the user, `organizations` its groups."""

    file_stem: str
    common_name: str
    organizations: tuple[str, ...] = ()


CLIENTS = (
    ClientIdentity("admin", "scorefleet-admin", ("system:masters",)),
    ClientIdentity("controller-manager", "system:kube-controller-manager"),
    ClientIdentity("scheduler", "system:kube-scheduler"),
    ClientIdentity("node-agent", "system:node:scorefleet-node", ("system:nodes", "system:masters")),
    ClientIdentity("prometheus", "scorefleet-prometheus", ("system:masters",)),
)
"""Client certificates issued by `ensure_pki`; kubeconfig `<stem>.kubeconfig` for each."""


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


def _load_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _issue(*, subject: x509.Name, public_key: ec.EllipticCurvePublicKey, ca_key: ec.EllipticCurvePrivateKey,
           ca_name: x509.Name, is_ca: bool, server: bool = False) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(ca_name).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + VALIDITY)
               .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True))
    if is_ca:
        builder = builder.add_extension(x509.KeyUsage(
            digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
            key_encipherment=False, data_encipherment=False, key_agreement=False, encipher_only=False,
            decipher_only=False), critical=True)
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if server:
        sans: list[x509.GeneralName] = [x509.DNSName(d) for d in APISERVER_SANS_DNS]
        sans += [x509.IPAddress(ipaddress.ip_address(i)) for i in APISERVER_SANS_IP]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def kubeconfig_document(*, server: str, ca_pem: bytes, cert_path: Path | None = None,
                        key_path: Path | None = None, token: str | None = None,
                        user: str = "user", namespace: str = "default") -> dict[str, object]:
    """A kubeconfig as a dict: one cluster (`server` URL, inline CA), one user (client cert files
    or a bearer `token`), one current context. Raises ValueError when neither credential is given."""
    import base64

    credentials: dict[str, str]
    if token is not None:
        credentials = {"token": token}
    elif cert_path is not None and key_path is not None:
        credentials = {"client-certificate": str(cert_path), "client-key": str(key_path)}
    else:
        raise ValueError("kubeconfig needs a client certificate and key, or a token")
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "scorefleet", "cluster": {
            "server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "scorefleet", "context": {"cluster": "scorefleet", "user": user,
                                                         "namespace": namespace}}],
        "current-context": "scorefleet",
    }


def ensure_pki(pki_dir: Path, *, apiserver_url: str) -> None:
    """Create, where missing, under `pki_dir`: ca.crt/ca.key, apiserver.crt/.key (SANs for
    loopback and the in-cluster `kubernetes.default.svc` names), sa.key/sa.pub (service-account
    token signing), and for each of `CLIENTS` a certificate, key and `<stem>.kubeconfig` pointing at
    `apiserver_url`. Existing files are left alone."""
    pki_dir.mkdir(parents=True, exist_ok=True)
    ca_key_path, ca_crt_path = pki_dir / "ca.key", pki_dir / "ca.crt"
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "scorefleet-devstack-ca")])
    if not ca_crt_path.exists():
        ca_key = ec.generate_private_key(ec.SECP256R1())
        _write_key(ca_key_path, ca_key)
        ca = _issue(subject=ca_name, public_key=ca_key.public_key(), ca_key=ca_key, ca_name=ca_name, is_ca=True)
        ca_crt_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    ca_key = _load_key(ca_key_path)
    ca_pem = ca_crt_path.read_bytes()

    def leaf(stem: str, subject: x509.Name, *, server: bool) -> None:
        crt = pki_dir / f"{stem}.crt"
        if crt.exists():
            return
        key = ec.generate_private_key(ec.SECP256R1())
        _write_key(pki_dir / f"{stem}.key", key)
        cert = _issue(subject=subject, public_key=key.public_key(), ca_key=ca_key, ca_name=ca_name,
                      is_ca=False, server=server)
        crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    leaf("apiserver", x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]), server=True)
    for client in CLIENTS:
        attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in client.organizations]
        attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, client.common_name))
        leaf(client.file_stem, x509.Name(attrs), server=False)
        kubeconfig = pki_dir / f"{client.file_stem}.kubeconfig"
        if not kubeconfig.exists():
            doc = kubeconfig_document(server=apiserver_url, ca_pem=ca_pem,
                                      cert_path=pki_dir / f"{client.file_stem}.crt",
                                      key_path=pki_dir / f"{client.file_stem}.key", user=client.common_name)
            kubeconfig.write_text(yaml.safe_dump(doc))
            kubeconfig.chmod(0o600)

    sa_key_path = pki_dir / "sa.key"
    if not sa_key_path.exists():
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(sa_key_path, sa_key)
        (pki_dir / "sa.pub").write_bytes(sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
