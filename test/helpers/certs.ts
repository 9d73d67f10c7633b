/** Certificates for TLS tests, made with openssl: a CA, a server certificate, client certificates. */
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const openssl = (dir: string, ...args: string[]) =>
  execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });

/** A CA and a server certificate for localhost / 127.0.0.1, made with openssl. */
export function makeCertificates(dir: string): {
  ca: string;
  cert: string;
  key: string;
  otherCa: string;
} {
  const run = (...args: string[]) => openssl(dir, ...args);
  const selfSignedCa = (subject: string, name: string) =>
    run(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "2",
      "-subj",
      subject,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.pem`,
    );
  selfSignedCa("/CN=Brook test CA", "ca");
  selfSignedCa("/CN=Someone else", "other");
  writeFileSync(join(dir, "san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
  signedByCa(dir, "server", "/CN=localhost", "san.ext");
  return {
    ca: join(dir, "ca.pem"),
    cert: join(dir, "server.pem"),
    key: join(dir, "server.key"),
    otherCa: join(dir, "other.pem"),
  };
}

/** A client certificate with common name `cn`, signed by the CA makeCertificates made in `dir`. */
export function clientCertificate(dir: string, cn: string): { cert: string; key: string } {
  return signedByCa(dir, cn, `/CN=${cn}`);
}

/** A key and a certificate for `subject`, `<name>.key` and `<name>.pem`, signed by the CA in `dir`. */
function signedByCa(
  dir: string,
  name: string,
  subject: string,
  extfile?: string,
): { cert: string; key: string } {
  const run = (...args: string[]) => openssl(dir, ...args);
  run(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-subj",
    subject,
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.csr`,
  );
  run(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    ...(extfile === undefined ? [] : ["-extfile", extfile]),
    "-out",
    `${name}.pem`,
  );
  return { cert: join(dir, `${name}.pem`), key: join(dir, `${name}.key`) };
}
