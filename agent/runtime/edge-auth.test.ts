import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { describe, it } from "node:test";
import { EdgeAuth } from "./edge-auth.js";
import { hashPassword, PasswordCheck, parsePasswords } from "./passwords.js";

const verify = (check: PasswordCheck, user: string, password: string) =>
  new Promise<boolean>((resolve) => check.verify(user, Buffer.from(password), resolve));

describe("credentials and identities", () => {
  it("a credentials line must hold a real hash: an empty or short hash or salt is refused, naming its line", () => {
    const good = hashPassword("a good secret", 10);
    deepStrictEqual(
      [...parsePasswords(`# sensors\npump-1:${good}\n`, "passwd").keys()],
      ["pump-1"],
    );
    for (const bad of [
      "scrypt$14$8$1$c2FsdHNhbHQ=$", // no hash: it would match any password
      "scrypt$14$8$1$c2FsdHNhbHQ=$c2hvcnQ=", // a 5-byte hash
      "scrypt$14$8$1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", // no salt
      "scrypt$14$64$1$c2FsdHNhbHQ=$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", // r beyond 32
    ])
      throws(() => parsePasswords(`pump-1:${good}\npump-2:${bad}\n`, "passwd"), /passwd:2:/);
  });

  it("an unknown user costs the same scrypt as a known one, and a known one's password is checked", async () => {
    const check = new PasswordCheck(
      parsePasswords(`pump-1:${hashPassword("a good secret", 10)}\n`, "passwd"),
    );
    strictEqual(await verify(check, "nobody", "a good secret"), false);
    strictEqual(check.hashed, 1, "scrypt ran for the unknown user");
    strictEqual(await verify(check, "pump-1", "wrong"), false);
    strictEqual(await verify(check, "pump-1", "a good secret"), true);
    strictEqual(check.hashed, 3);
    strictEqual(await verify(check, "pump-1", "a good secret"), true);
    strictEqual(check.hashed, 3, "a password that passed is remembered");
  });

  it("fills {user} and {clientid} in one pass, each as one safe topic level", async () => {
    const auth = new EdgeAuth({
      passwords: new PasswordCheck(
        parsePasswords(`pump-1:${hashPassword("a good secret", 10)}\n`, "passwd"),
      ),
      clientCerts: false,
      allowAnonymous: false,
      acl: [{ user: "*", publish: ["sensors/{user}/{clientid}/#"], subscribe: [] }],
      refused: () => undefined,
    });
    auth.setOwnTopics([]);
    for (const [id, own, other] of [
      ["{user}", "sensors/pump-1/{user}/t", "sensors/pump-1/pump-1/t"],
      ["a/+/#", "sensors/pump-1/a____/t", "sensors/pump-1/a/b/t"],
    ] as const) {
      const client = { id };
      const ok1 = await new Promise<boolean>((resolve) =>
        auth.authenticate(client, "pump-1", Buffer.from("a good secret"), resolve),
      );
      ok(ok1);
      strictEqual(auth.mayPublish(client, own), true, own);
      strictEqual(auth.mayPublish(client, other), false, other);
    }
  });
});
