"""The broker secrets of the Compose stand-in (``make compose-secrets``): a private CA, the broker's
server certificate, the admin's client certificate (mTLS), and a SCRAM password per principal of the
ACL table. The tests use the CA and certificates too.

Each key is written unencrypted in PKCS#8 PEM beside its certificate in one file, which both Kafka's
PEM key stores (``ssl.keystore.type=PEM``) and Python's ``ssl`` read."""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 825


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _builder(subject: str, issuer: x509.Name, key: ec.EllipticCurvePrivateKey) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.timezone.utc)
    return (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=VALID_DAYS)))


class Authority:
    """A certificate authority: its key and self-signed certificate."""

    def __init__(self, common_name: str = "Danbao Kafka CA") -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.cert = (_builder(common_name, _name(common_name), self.key)
                     .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
                     .sign(self.key, hashes.SHA256()))

    def issue(self, common_name: str, dns_names: tuple[str, ...] = ()) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        """A certificate for a server (with ``dns_names``) or a client (mTLS principal ``User:CN=<common_name>``)."""
        key = ec.generate_private_key(ec.SECP256R1())
        usages = [ExtendedKeyUsageOID.CLIENT_AUTH, *([ExtendedKeyUsageOID.SERVER_AUTH] if dns_names else [])]
        builder = (_builder(common_name, self.cert.subject, key)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage(usages), critical=False))
        if dns_names:
            builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in dns_names]), critical=False)
        return key, builder.sign(self.key, hashes.SHA256())


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def write(path: Path, data: bytes) -> Path:
    """Written like the other files ``make compose-secrets`` writes: Compose bind-mounts a file secret
    with its own mode, and the containers' users (10001, Kafka's 1000) must read it."""
    path.write_bytes(data)
    return path


# Compose's files: the CA (mounted everywhere), the broker's key store, the admin's client certificate.
BROKER_NAMES = ("kafka", "localhost")
ADMIN_CN = "danbao-admin"


def password_file(principal: str) -> str:
    return f"kafka_password_{principal}"


def write_compose_files(folder: Path) -> list[Path]:
    """The CA, certificates and passwords ``deploy/compose.yaml`` mounts, in ``folder``; what exists is kept."""
    from ops.acl import principals

    folder.mkdir(parents=True, exist_ok=True)
    written = []
    if not (folder / "kafka_ca.pem").exists():
        ca = Authority()
        broker_key, broker_cert = ca.issue("kafka", BROKER_NAMES)
        admin_key, admin_cert = ca.issue(ADMIN_CN)
        written += [write(folder / "kafka_broker.pem", key_pem(broker_key) + cert_pem(broker_cert) + cert_pem(ca.cert)),
                    write(folder / "kafka_admin.pem", key_pem(admin_key) + cert_pem(admin_cert)),
                    write(folder / "kafka_ca_key.pem", key_pem(ca.key)),
                    write(folder / "kafka_ca.pem", cert_pem(ca.cert))]
    for principal in principals():
        path = folder / password_file(principal.name)
        if not path.exists():
            written.append(write(path, secrets.token_urlsafe(32).encode()))  # no ',' or ']': safe in kafka-configs' syntax
    return written


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=write_compose_files.__doc__)
    parser.add_argument("folder", type=Path)
    for path in write_compose_files(parser.parse_args().folder):
        print(f"wrote {path}")
